package broker_test

import (
	"context"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/gregorhq/gregor/broker"
)

// authCodes are Kafka's authorization failures.
var authCodes = map[int16]bool{
	kerr.TopicAuthorizationFailed.Code:           true,
	kerr.GroupAuthorizationFailed.Code:           true,
	kerr.ClusterAuthorizationFailed.Code:         true,
	kerr.TransactionalIDAuthorizationFailed.Code: true,
}

// errorCodes collects every ErrorCode field of a response, at any depth.
func errorCodes(v reflect.Value, out map[int16]bool) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			errorCodes(v.Elem(), out)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if f.Type.Kind() == reflect.Int16 && (f.Name == "ErrorCode" || f.Name == "ConfigErrorCode") {
				out[int16(v.Field(i).Int())] = true
				continue
			}
			errorCodes(v.Field(i), out)
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return
		}
		for i := 0; i < v.Len(); i++ {
			errorCodes(v.Index(i), out)
		}
	}
}

// t1ID is the ID of topic t1, which requests of newer versions name it by
// (set by TestACLEveryAPI once it created the topic).
var t1ID [16]byte

// apiCase is one API key's request and the code a principal without
// ACLs gets. filtered, when set, tells from a response whether it left
// out what the principal may not see (APIs that filter rather than fail).
type apiCase struct {
	name     string
	key      int16
	req      func() kmsg.Request
	denied   *kerr.Error
	filtered func(kmsg.Response) bool
	v3       bool // send with Kafka 3.0's versions (AddPartitionsToTxn v3)
}

func everyAPICases() []apiCase {
	str := kmsg.StringPtr
	return []apiCase{
		{name: "Produce", key: 0, denied: kerr.TopicAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrProduceRequest()
			r.Acks, r.TimeoutMillis = 1, 5000
			t := kmsg.NewProduceRequestTopic()
			t.Topic, t.TopicID = "t1", t1ID
			p := kmsg.NewProduceRequestTopicPartition()
			p.Records = []byte("not a batch")
			t.Partitions = append(t.Partitions, p)
			r.Topics = append(r.Topics, t)
			return r
		}},
		{name: "Fetch", key: 1, denied: kerr.TopicAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrFetchRequest()
			r.ReplicaID, r.MaxWaitMillis, r.MaxBytes = -1, 0, 1<<20
			r.SessionEpoch = -1
			t := kmsg.NewFetchRequestTopic()
			t.Topic, t.TopicID = "t1", t1ID
			p := kmsg.NewFetchRequestTopicPartition()
			p.PartitionMaxBytes, p.CurrentLeaderEpoch = 1<<20, -1
			t.Partitions = append(t.Partitions, p)
			r.Topics = append(r.Topics, t)
			return r
		}},
		{name: "Fetch (follower)", key: 1, denied: kerr.TopicAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrFetchRequest()
			r.ReplicaID, r.ReplicaState.ID, r.ReplicaState.Epoch, r.MaxWaitMillis, r.MaxBytes = 7, 7, 1, 0, 1<<20
			r.SessionEpoch = -1
			t := kmsg.NewFetchRequestTopic()
			t.Topic, t.TopicID = "t1", t1ID
			p := kmsg.NewFetchRequestTopicPartition()
			p.PartitionMaxBytes, p.CurrentLeaderEpoch = 1<<20, -1
			t.Partitions = append(t.Partitions, p)
			r.Topics = append(r.Topics, t)
			return r
		}},
		{name: "ListOffsets", key: 2, denied: kerr.TopicAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrListOffsetsRequest()
			t := kmsg.NewListOffsetsRequestTopic()
			t.Topic = "t1"
			p := kmsg.NewListOffsetsRequestTopicPartition()
			p.Timestamp = -1
			t.Partitions = append(t.Partitions, p)
			r.Topics = append(r.Topics, t)
			return r
		}},
		{name: "Metadata", key: 3, denied: kerr.TopicAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrMetadataRequest()
			t := kmsg.NewMetadataRequestTopic()
			t.Topic = str("t1")
			r.Topics = append(r.Topics, t)
			return r
		}},
		{name: "Metadata (all topics)", key: 3, req: func() kmsg.Request { return kmsg.NewPtrMetadataRequest() },
			filtered: func(resp kmsg.Response) bool {
				for _, t := range resp.(*kmsg.MetadataResponse).Topics {
					if *t.Topic == "t1" {
						return false
					}
				}
				return true
			}},
		{name: "OffsetCommit", key: 8, denied: kerr.GroupAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrOffsetCommitRequest()
			r.Group, r.Generation = "g1", -1
			t := kmsg.NewOffsetCommitRequestTopic()
			t.Topic, t.TopicID = "t1", t1ID
			p := kmsg.NewOffsetCommitRequestTopicPartition()
			p.Offset = 0
			t.Partitions = append(t.Partitions, p)
			r.Topics = append(r.Topics, t)
			return r
		}},
		{name: "OffsetFetch", key: 9, denied: kerr.GroupAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrOffsetFetchRequest()
			g := kmsg.NewOffsetFetchRequestGroup()
			g.Group = "g1"
			t := kmsg.NewOffsetFetchRequestGroupTopic()
			t.Topic, t.TopicID, t.Partitions = "t1", t1ID, []int32{0}
			g.Topics = append(g.Topics, t)
			r.Groups = append(r.Groups, g)
			return r
		}},
		{name: "FindCoordinator (group)", key: 10, denied: kerr.GroupAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrFindCoordinatorRequest()
			r.CoordinatorKeys = []string{"g1"}
			return r
		}},
		{name: "FindCoordinator (transaction)", key: 10, denied: kerr.TransactionalIDAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrFindCoordinatorRequest()
			r.CoordinatorType, r.CoordinatorKeys = 1, []string{"tx1"}
			return r
		}},
		{name: "JoinGroup", key: 11, denied: kerr.GroupAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrJoinGroupRequest()
			r.Group, r.ProtocolType, r.SessionTimeoutMillis, r.RebalanceTimeoutMillis = "g2", "consumer", 10000, 10000
			p := kmsg.NewJoinGroupRequestProtocol()
			p.Name = "range"
			r.Protocols = append(r.Protocols, p)
			return r
		}},
		{name: "Heartbeat", key: 12, denied: kerr.GroupAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrHeartbeatRequest()
			r.Group, r.MemberID, r.Generation = "g1", "nobody", 1
			return r
		}},
		{name: "LeaveGroup", key: 13, denied: kerr.GroupAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrLeaveGroupRequest()
			r.Group, r.MemberID = "g1", "nobody"
			m := kmsg.NewLeaveGroupRequestMember()
			m.MemberID = "nobody"
			r.Members = append(r.Members, m)
			return r
		}},
		{name: "SyncGroup", key: 14, denied: kerr.GroupAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrSyncGroupRequest()
			r.Group, r.MemberID, r.Generation = "g1", "nobody", 1
			return r
		}},
		{name: "DescribeGroups", key: 15, denied: kerr.GroupAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrDescribeGroupsRequest()
			r.Groups = []string{"g1"}
			return r
		}},
		{name: "ListGroups", key: 16, req: func() kmsg.Request { return kmsg.NewPtrListGroupsRequest() },
			filtered: func(resp kmsg.Response) bool { return len(resp.(*kmsg.ListGroupsResponse).Groups) == 0 }},
		{name: "CreateTopics", key: 19, denied: kerr.TopicAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrCreateTopicsRequest()
			r.TimeoutMillis = 5000
			t := kmsg.NewCreateTopicsRequestTopic()
			t.Topic, t.NumPartitions, t.ReplicationFactor = "t-new", 1, 1
			r.Topics = append(r.Topics, t)
			return r
		}},
		{name: "DeleteTopics", key: 20, denied: kerr.TopicAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrDeleteTopicsRequest()
			r.TimeoutMillis = 5000
			t := kmsg.NewDeleteTopicsRequestTopic()
			t.Topic = str("t-del")
			r.Topics, r.TopicNames = append(r.Topics, t), []string{"t-del"}
			return r
		}},
		{name: "DeleteRecords", key: 21, denied: kerr.TopicAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrDeleteRecordsRequest()
			r.TimeoutMillis = 5000
			t := kmsg.NewDeleteRecordsRequestTopic()
			t.Topic = "t1"
			p := kmsg.NewDeleteRecordsRequestTopicPartition()
			p.Offset = 0
			t.Partitions = append(t.Partitions, p)
			r.Topics = append(r.Topics, t)
			return r
		}},
		{name: "InitProducerId (transactional)", key: 22, denied: kerr.TransactionalIDAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrInitProducerIDRequest()
			r.TransactionalID, r.TransactionTimeoutMillis = str("tx2"), 10000
			return r
		}},
		{name: "InitProducerId (idempotent)", key: 22, denied: kerr.ClusterAuthorizationFailed, req: func() kmsg.Request {
			return kmsg.NewPtrInitProducerIDRequest()
		}},
		{name: "OffsetForLeaderEpoch", key: 23, denied: kerr.TopicAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrOffsetForLeaderEpochRequest()
			r.ReplicaID = -1
			t := kmsg.NewOffsetForLeaderEpochRequestTopic()
			t.Topic = "t1"
			p := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
			p.CurrentLeaderEpoch, p.LeaderEpoch = -1, 0
			t.Partitions = append(t.Partitions, p)
			r.Topics = append(r.Topics, t)
			return r
		}},
		{name: "OffsetForLeaderEpoch (follower)", key: 23, denied: kerr.ClusterAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrOffsetForLeaderEpochRequest()
			r.ReplicaID = 7
			t := kmsg.NewOffsetForLeaderEpochRequestTopic()
			t.Topic = "t1"
			p := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
			p.CurrentLeaderEpoch, p.LeaderEpoch = -1, 0
			t.Partitions = append(t.Partitions, p)
			r.Topics = append(r.Topics, t)
			return r
		}},
		{name: "AddPartitionsToTxn (client, v3)", key: 24, v3: true, denied: kerr.TransactionalIDAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrAddPartitionsToTxnRequest()
			r.TransactionalID, r.ProducerID, r.ProducerEpoch = "tx2", 12345, 0
			t := kmsg.NewAddPartitionsToTxnRequestTopic()
			t.Topic, t.Partitions = "t1", []int32{0}
			r.Topics = append(r.Topics, t)
			return r
		}},
		{name: "AddPartitionsToTxn (broker, v4+)", key: 24, denied: kerr.ClusterAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrAddPartitionsToTxnRequest()
			tr := kmsg.NewAddPartitionsToTxnRequestTransaction()
			tr.TransactionalID, tr.ProducerID, tr.ProducerEpoch, tr.VerifyOnly = "tx2", 12345, 0, true
			t := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
			t.Topic, t.Partitions = "t1", []int32{0}
			tr.Topics = append(tr.Topics, t)
			r.Transactions = append(r.Transactions, tr)
			return r
		}},
		{name: "AddOffsetsToTxn", key: 25, denied: kerr.TransactionalIDAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrAddOffsetsToTxnRequest()
			r.TransactionalID, r.ProducerID, r.Group = "tx2", 12345, "g1"
			return r
		}},
		{name: "EndTxn", key: 26, denied: kerr.TransactionalIDAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrEndTxnRequest()
			r.TransactionalID, r.ProducerID = "tx2", 12345
			return r
		}},
		{name: "WriteTxnMarkers", key: 27, denied: kerr.ClusterAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrWriteTxnMarkersRequest()
			m := kmsg.NewWriteTxnMarkersRequestMarker()
			m.ProducerID, m.ProducerEpoch = 12345, 0
			t := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			t.Topic, t.Partitions = "t-nowhere", []int32{0}
			m.Topics = append(m.Topics, t)
			r.Markers = append(r.Markers, m)
			return r
		}},
		{name: "TxnOffsetCommit", key: 28, denied: kerr.TransactionalIDAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrTxnOffsetCommitRequest()
			r.TransactionalID, r.Group, r.ProducerID, r.Generation = "tx2", "g1", 12345, -1
			t := kmsg.NewTxnOffsetCommitRequestTopic()
			t.Topic = "t1"
			t.Partitions = append(t.Partitions, kmsg.NewTxnOffsetCommitRequestTopicPartition())
			r.Topics = append(r.Topics, t)
			return r
		}},
		{name: "DescribeAcls", key: 29, denied: kerr.ClusterAuthorizationFailed, req: func() kmsg.Request { return anyFilter() }},
		{name: "CreateAcls", key: 30, denied: kerr.ClusterAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrCreateACLsRequest()
			r.Creations = append(r.Creations, allowTo("User:carol", kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, "c"))
			return r
		}},
		{name: "DeleteAcls", key: 31, denied: kerr.ClusterAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrDeleteACLsRequest()
			f := kmsg.NewDeleteACLsRequestFilter()
			f.ResourceType, f.ResourcePatternType, f.ResourceName = kmsg.ACLResourceTypeTopic, kmsg.ACLResourcePatternTypeLiteral, str("nothing")
			f.Operation, f.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
			r.Filters = append(r.Filters, f)
			return r
		}},
		{name: "DescribeConfigs (topic)", key: 32, denied: kerr.TopicAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrDescribeConfigsRequest()
			c := kmsg.NewDescribeConfigsRequestResource()
			c.ResourceType, c.ResourceName = kmsg.ConfigResourceTypeTopic, "t1"
			r.Resources = append(r.Resources, c)
			return r
		}},
		{name: "DescribeConfigs (broker)", key: 32, denied: kerr.ClusterAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrDescribeConfigsRequest()
			c := kmsg.NewDescribeConfigsRequestResource()
			c.ResourceType, c.ResourceName = kmsg.ConfigResourceTypeBroker, "1"
			r.Resources = append(r.Resources, c)
			return r
		}},
		{name: "AlterConfigs", key: 33, denied: kerr.TopicAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrAlterConfigsRequest()
			c := kmsg.NewAlterConfigsRequestResource()
			c.ResourceType, c.ResourceName = kmsg.ConfigResourceTypeTopic, "t1"
			r.Resources = append(r.Resources, c)
			return r
		}},
		{name: "DescribeLogDirs", key: 35, denied: kerr.ClusterAuthorizationFailed, req: func() kmsg.Request {
			return kmsg.NewPtrDescribeLogDirsRequest()
		}},
		{name: "CreatePartitions", key: 37, denied: kerr.TopicAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrCreatePartitionsRequest()
			r.TimeoutMillis = 5000
			t := kmsg.NewCreatePartitionsRequestTopic()
			t.Topic, t.Count = "t1", 2
			r.Topics = append(r.Topics, t)
			return r
		}},
		{name: "DeleteGroups", key: 42, denied: kerr.GroupAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrDeleteGroupsRequest()
			r.Groups = []string{"g-del"}
			return r
		}},
		{name: "ElectLeaders", key: 43, denied: kerr.ClusterAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrElectLeadersRequest()
			r.TimeoutMillis = 5000
			t := kmsg.NewElectLeadersRequestTopic()
			t.Topic, t.Partitions = "t1", []int32{0}
			r.Topics = append(r.Topics, t)
			return r
		}},
		{name: "IncrementalAlterConfigs", key: 44, denied: kerr.ClusterAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrIncrementalAlterConfigsRequest()
			c := kmsg.NewIncrementalAlterConfigsRequestResource()
			c.ResourceType, c.ResourceName = kmsg.ConfigResourceTypeBroker, "1"
			r.Resources = append(r.Resources, c)
			return r
		}},
		{name: "AlterPartitionReassignments", key: 45, denied: kerr.ClusterAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrAlterPartitionAssignmentsRequest()
			r.TimeoutMillis = 5000
			return r
		}},
		{name: "ListPartitionReassignments", key: 46, denied: kerr.ClusterAuthorizationFailed, req: func() kmsg.Request {
			return kmsg.NewPtrListPartitionReassignmentsRequest()
		}},
		{name: "OffsetDelete", key: 47, denied: kerr.GroupAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrOffsetDeleteRequest()
			r.Group = "g1"
			t := kmsg.NewOffsetDeleteRequestTopic()
			t.Topic = "t1"
			t.Partitions = append(t.Partitions, kmsg.NewOffsetDeleteRequestTopicPartition())
			r.Topics = append(r.Topics, t)
			return r
		}},
		{name: "DescribeClientQuotas", key: 48, denied: kerr.ClusterAuthorizationFailed, req: func() kmsg.Request {
			return kmsg.NewPtrDescribeClientQuotasRequest()
		}},
		{name: "AlterClientQuotas", key: 49, denied: kerr.ClusterAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrAlterClientQuotasRequest()
			e := kmsg.NewAlterClientQuotasRequestEntry()
			ent := kmsg.NewAlterClientQuotasRequestEntryEntity()
			ent.Type, ent.Name = "user", kmsg.StringPtr("carol")
			e.Entity = append(e.Entity, ent)
			op := kmsg.NewAlterClientQuotasRequestEntryOp()
			op.Key, op.Value = "producer_byte_rate", 1048576
			e.Ops = append(e.Ops, op)
			r.Entries = append(r.Entries, e)
			return r
		}},
		{name: "DescribeUserScramCredentials", key: 50, denied: kerr.ClusterAuthorizationFailed, req: func() kmsg.Request {
			return kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
		}},
		{name: "AlterUserScramCredentials", key: 51, denied: kerr.ClusterAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
			u := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
			u.Name, u.Mechanism, u.Iterations, u.Salt, u.SaltedPassword = "carol", 1, 4096, []byte("salt"), make([]byte, 32)
			r.Upsertions = append(r.Upsertions, u)
			return r
		}},
		{name: "DescribeQuorum", key: 55, denied: kerr.ClusterAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrDescribeQuorumRequest()
			t := kmsg.NewDescribeQuorumRequestTopic()
			t.Topic = "__cluster_metadata"
			t.Partitions = append(t.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
			r.Topics = append(r.Topics, t)
			return r
		}},
		{name: "DescribeCluster", key: 60, req: func() kmsg.Request {
			r := kmsg.NewPtrDescribeClusterRequest()
			r.IncludeClusterAuthorizedOperations = true
			return r
		}, filtered: func(resp kmsg.Response) bool {
			return resp.(*kmsg.DescribeClusterResponse).ClusterAuthorizedOperations == math.MinInt32
		}},
		{name: "DescribeProducers", key: 61, denied: kerr.TopicAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrDescribeProducersRequest()
			t := kmsg.NewDescribeProducersRequestTopic()
			t.Topic, t.Partitions = "t1", []int32{0}
			r.Topics = append(r.Topics, t)
			return r
		}},
		{name: "DescribeTransactions", key: 65, denied: kerr.TransactionalIDAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrDescribeTransactionsRequest()
			r.TransactionalIDs = []string{"tx1"}
			return r
		}},
		{name: "ListTransactions", key: 66, req: func() kmsg.Request { return kmsg.NewPtrListTransactionsRequest() },
			filtered: func(resp kmsg.Response) bool {
				return len(resp.(*kmsg.ListTransactionsResponse).TransactionStates) == 0
			}},
		{name: "DescribeTopicPartitions", key: 75, denied: kerr.TopicAuthorizationFailed, req: func() kmsg.Request {
			r := kmsg.NewPtrDescribeTopicPartitionsRequest()
			t := kmsg.NewDescribeTopicPartitionsRequestTopic()
			t.Topic = "t1"
			r.Topics = append(r.Topics, t)
			return r
		}},
	}
}

func apiCaseNamed(t *testing.T, name string) apiCase {
	for _, c := range everyAPICases() {
		if c.name == name {
			return c
		}
	}
	t.Fatalf("no case %s", name)
	return apiCase{}
}

// noAuthorization are the API keys that never need an ACL: the
// handshake before a principal exists.
var noAuthorization = map[int16]bool{17: true, 18: true, 36: true}

// TestACLEveryAPI sends each API the broker serves as bob, who has no
// ACLs, and as alice, who has ALL on the resources the requests name
// (topics t*, groups g*, transactional IDs tx*, the cluster), and checks
// bob gets Kafka's authorization error (or a filtered answer) and alice
// none.
func TestACLEveryAPI(t *testing.T) {
	b := aclBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin := userClient(t, b.Addr(), "admin", kgo.TransactionalID("tx1"), kgo.DefaultProduceTopic("t1"))

	// What the requests name: topics t1 and t-del, groups g1 and g-del, an
	// ongoing-or-finished transaction tx1.
	for _, topic := range []string{"t1", "t-del"} {
		req := kmsg.NewPtrCreateTopicsRequest()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, 1, 1
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, admin)
		if err != nil || resp.Topics[0].ErrorCode != 0 {
			t.Fatalf("create %s: %+v %v", topic, resp, err)
		}
		if topic == "t1" {
			t1ID = resp.Topics[0].TopicID
		}
	}
	if err := admin.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := admin.ProduceSync(ctx, kgo.StringRecord("v")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := admin.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"g1", "g-del"} {
		req := apiCaseNamed(t, "OffsetCommit").req().(*kmsg.OffsetCommitRequest)
		req.Group = g
		if resp, err := req.RequestWith(ctx, admin); err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("commit to %s: %+v %v", g, resp, err)
		}
	}
	prefixed := func(rt kmsg.ACLResourceType, name string) kmsg.CreateACLsRequestCreation {
		return binding(rt, name, kmsg.ACLResourcePatternTypePrefixed, "User:alice", kmsg.ACLOperationAll, kmsg.ACLPermissionTypeAllow)
	}
	createACLs(t, admin, prefixed(kmsg.ACLResourceTypeTopic, "t"), prefixed(kmsg.ACLResourceTypeGroup, "g"),
		prefixed(kmsg.ACLResourceTypeTransactionalId, "tx"),
		allowTo("User:alice", kmsg.ACLOperationAll, kmsg.ACLResourceTypeCluster, "kafka-cluster"))

	send := func(user string, c apiCase) (kmsg.Response, error) {
		var opts []kgo.Opt
		if c.v3 {
			opts = append(opts, kgo.MaxVersions(kversion.V3_0_0()))
		}
		cl := userClient(t, b.Addr(), user, opts...)
		return cl.SeedBrokers()[0].Request(ctx, c.req())
	}
	covered := map[int16]bool{}
	for _, c := range everyAPICases() {
		covered[c.key] = true
		t.Run(c.name, func(t *testing.T) {
			if _, _, ok := broker.SupportedVersions(c.key); !ok {
				t.Fatalf("the broker does not serve API key %d", c.key)
			}
			for _, user := range []string{"bob", "alice"} {
				resp, err := send(user, c)
				if err != nil {
					t.Fatalf("%s: %v", user, err)
				}
				codes := map[int16]bool{}
				errorCodes(reflect.ValueOf(resp), codes)
				denied := user == "bob"
				switch {
				case c.filtered != nil:
					if got := c.filtered(resp); got != denied {
						t.Errorf("%s: filtered = %v, want %v (%+v)", user, got, denied, resp)
					}
				case denied && !codes[c.denied.Code]:
					t.Errorf("bob: codes %v, want %s", codes, c.denied.Message)
				case !denied:
					for code := range codes {
						if authCodes[code] {
							t.Errorf("alice: %s", kerr.ErrorForCode(code))
						}
					}
				}
			}
		})
	}
	for key := int16(0); key < 100; key++ {
		if _, _, ok := broker.SupportedVersions(key); ok && !covered[key] && !noAuthorization[key] {
			t.Errorf("API key %d (%s) has no authorization case", key, kmsg.NameForKey(key))
		}
	}
}
