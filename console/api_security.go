package console

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// aclJSON is an ACL binding.
type aclJSON struct {
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Operation    string `json:"operation"`
	Permission   string `json:"permission"`
	ResourceType string `json:"resourceType"`
	ResourceName string `json:"resourceName"`
	PatternType  string `json:"patternType"`
}

// securityDisabled is the answer when the cluster has no authorizer or
// no SCRAM: 404 with code SECURITY_DISABLED.
func securityDisabled(err error) error {
	return &apiError{Status: http.StatusNotFound, Code: kerr.SecurityDisabled.Message, Message: err.Error()}
}

// listACLs answers GET /api/acls with every ACL binding the user may
// describe.
func (c *Console) listACLs(_ http.ResponseWriter, r *http.Request, s *session) (any, error) {
	ctx, cancel := opCtx(r)
	defer cancel()
	req := kmsg.NewPtrDescribeACLsRequest()
	req.ResourceType = kmsg.ACLResourceTypeAny
	req.ResourcePatternType = kmsg.ACLResourcePatternTypeAny
	req.Operation = kmsg.ACLOperationAny
	req.PermissionType = kmsg.ACLPermissionTypeAny
	resp, err := req.RequestWith(ctx, s.cl)
	if err != nil {
		return nil, fmt.Errorf("describe ACLs: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		if errors.Is(err, kerr.SecurityDisabled) {
			return nil, securityDisabled(err)
		}
		return nil, withField(err, deref(resp.ErrorMessage), nil)
	}
	out := []aclJSON{}
	for _, res := range resp.Resources {
		for _, a := range res.ACLs {
			out = append(out, aclJSON{Principal: a.Principal, Host: a.Host, Operation: a.Operation.String(),
				Permission: a.PermissionType.String(), ResourceType: res.ResourceType.String(),
				ResourceName: res.ResourceName, PatternType: res.ResourcePatternType.String()})
		}
	}
	slices.SortFunc(out, func(a, b aclJSON) int {
		return cmp.Or(strings.Compare(a.ResourceType, b.ResourceType), strings.Compare(a.ResourceName, b.ResourceName),
			strings.Compare(a.Principal, b.Principal), strings.Compare(a.Operation, b.Operation))
	})
	return out, nil
}

// userJSON is a SCRAM user.
type userJSON struct {
	User       string   `json:"user"`
	Mechanisms []string `json:"mechanisms"`
}

// listUsers answers GET /api/users with the SCRAM users and their
// mechanisms.
func (c *Console) listUsers(_ http.ResponseWriter, r *http.Request, s *session) (any, error) {
	ctx, cancel := opCtx(r)
	defer cancel()
	users, err := s.adm.DescribeUserSCRAMs(ctx)
	if err != nil {
		if errors.Is(err, kerr.SecurityDisabled) {
			return nil, securityDisabled(err)
		}
		return nil, fmt.Errorf("describe SCRAM users: %w", err)
	}
	out := []userJSON{}
	for _, u := range users {
		if u.Err != nil {
			continue
		}
		uj := userJSON{User: u.User, Mechanisms: []string{}}
		for _, ci := range u.CredInfos {
			uj.Mechanisms = append(uj.Mechanisms, ci.Mechanism.String())
		}
		slices.Sort(uj.Mechanisms)
		out = append(out, uj)
	}
	slices.SortFunc(out, func(a, b userJSON) int { return cmp.Compare(a.User, b.User) })
	return out, nil
}
