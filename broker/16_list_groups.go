package broker

import (
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/group"
)

// ListGroups: v0-5
//
// Lists the groups this broker coordinates: those of the __consumer_offsets
// partitions it leads (all of them, on one node); clients ask every broker
// and merge. While one of this broker's partitions is still loading the
// loaded groups are listed with COORDINATOR_LOAD_IN_PROGRESS; partitions
// other brokers lead never count.
//
// Version notes:
//   - v1: ThrottleMillis
//   - v3: flexible
//   - v4: StatesFilter and GroupState (KIP-518), matched case-insensitively
//   - v5: TypesFilter and GroupType (KIP-848); every group here is "classic"
//
// Authorization: with DESCRIBE on the cluster every group is listed, otherwise
// only the groups the principal may DESCRIBE.

func init() { register(16, 0, 5, handleListGroups) }

func handleListGroups(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.ListGroupsRequest)
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	gc, kErr := b.groupCoordinator()
	if kErr != nil {
		resp.ErrorCode = kErr.Code
		return resp, nil
	}
	states := map[group.State]bool{}
	for _, s := range req.StatesFilter {
		if st, ok := group.ParseState(s); ok {
			states[st] = true
		} else {
			states[-1] = true // an unknown state matches nothing
		}
	}
	classic := len(req.TypesFilter) == 0
	for _, t := range req.TypesFilter {
		if strings.EqualFold(t, "classic") {
			classic = true
		}
	}
	ls, lErr := gc.ListGroups()
	resp.ErrorCode = errorCode(lErr)
	if !classic {
		return resp, nil
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].Group < ls[j].Group })
	all := r.authorizeCluster(kmsg.ACLOperationDescribe)
	for _, l := range ls {
		if len(states) > 0 && !states[l.State] {
			continue
		}
		if !all && !r.authorizeGroup(kmsg.ACLOperationDescribe, l.Group) {
			continue
		}
		g := kmsg.NewListGroupsResponseGroup()
		g.Group, g.ProtocolType, g.GroupState, g.GroupType = l.Group, l.ProtocolType, l.State.String(), "classic"
		resp.Groups = append(resp.Groups, g)
	}
	return resp, nil
}
