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
//
// From v3 the response carries the transaction.version feature (supported
// 0-1, finalized 1), which newer Java producers read to pick a protocol.

func init() { register(18, 0, 4, handleAPIVersions) }

func handleAPIVersions(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.ApiVersionsRequest)
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	for _, h := range supportedAPIs() {
		resp.ApiKeys = append(resp.ApiKeys, kmsg.ApiVersionsResponseApiKey{
			ApiKey: h.key, MinVersion: h.minVersion, MaxVersion: h.maxVersion,
		})
	}
	if r.version >= 3 {
		// transaction.version 1: the classic transaction protocol (AddPartitionsToTxn
		// before producing, EndTxn up to v4). Version 2 (KIP-890 part 2) is not
		// served, so newer Java producers stay on the classic protocol.
		resp.SupportedFeatures = []kmsg.ApiVersionsResponseSupportedFeature{{Name: "transaction.version", MinVersion: 0, MaxVersion: 1}}
		resp.FinalizedFeaturesEpoch = 1
		resp.FinalizedFeatures = []kmsg.ApiVersionsResponseFinalizedFeature{{Name: "transaction.version", MinVersionLevel: 1, MaxVersionLevel: 1}}
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
