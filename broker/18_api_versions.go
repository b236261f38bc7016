package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ApiVersions: v0-4
//
// The response lists exactly the keys and version ranges in the handler
// registry. Its header is always v0, even for flexible versions (KIP-511).
// A request of a version the broker does not know is answered with a v0
// response carrying UNSUPPORTED_VERSION and the ApiVersions range, so the
// client can retry with a version both sides speak.
//
// Version notes:
//   - v1: ThrottleMillis
//   - v3: flexible; ClientSoftwareName/Version in the request (KIP-511)
//   - v4: no changes in the fields the broker answers (KIP-896 baseline)

func init() { register(18, 0, 4, handleAPIVersions) }

func handleAPIVersions(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.ApiVersionsRequest)
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	for _, h := range supportedAPIs() {
		resp.ApiKeys = append(resp.ApiKeys, kmsg.ApiVersionsResponseApiKey{
			ApiKey: h.key, MinVersion: h.minVersion, MaxVersion: h.maxVersion,
		})
	}
	return resp, nil
}

// apiVersionsUnsupported answers an ApiVersions request of an unknown version.
func apiVersionsUnsupported(r *request) kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	h := handlers[18]
	resp.ApiKeys = []kmsg.ApiVersionsResponseApiKey{{ApiKey: 18, MinVersion: h.minVersion, MaxVersion: h.maxVersion}}
	return resp
}
