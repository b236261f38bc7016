package connect

import (
	"reflect"
	"testing"
)

func TestConnectProtocolRoundTrip(t *testing.T) {
	m := workerMetadata{URL: "http://w1:8083", ConfigOffset: 42}
	got, err := decodeWorkerMetadata(m.encode())
	if err != nil || got != m {
		t.Fatalf("metadata %+v, %v", got, err)
	}
	a := workerAssignment{Leader: "m1", LeaderURL: "http://w1:8083", ConfigOffset: 7,
		Connectors: []string{"a", "b"}, Tasks: []TaskID{{"a", 0}, {"a", 1}, {"c", 0}}}
	ga, err := decodeWorkerAssignment(a.encode())
	if err != nil || !reflect.DeepEqual(ga, a) {
		t.Fatalf("assignment %+v, %v", ga, err)
	}
	if _, err := decodeWorkerAssignment([]byte{0, 0, 1}); err == nil {
		t.Fatal("truncated assignment decoded")
	}
}

func TestAssignWork(t *testing.T) {
	got := assignWork([]string{"m2", "m1"}, map[string]int{"src": 1, "sink": 2})
	want := map[string]*workerAssignment{
		"m1": {Connectors: []string{"sink"}, Tasks: []TaskID{{"sink", 0}, {"src", 0}}},
		"m2": {Connectors: []string{"src"}, Tasks: []TaskID{{"sink", 1}}},
	}
	if !reflect.DeepEqual(got, want) {
		for m, a := range got {
			t.Logf("%s: %+v", m, *a)
		}
		t.Fatal("unexpected assignment")
	}
	if len(assignWork(nil, map[string]int{"x": 1})) != 0 {
		t.Fatal("assignment without members")
	}
}
