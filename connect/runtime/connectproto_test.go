package runtime

import (
	"reflect"
	"testing"
)

func TestConnectProtocolRoundTrip(t *testing.T) {
	for _, v := range []int16{0, 1, 2} {
		m := workerMetadata{URL: "http://w1:8083", ConfigOffset: 42, Owned: workSet{Connectors: []string{"a"}, Tasks: []TaskID{{"a", 0}}}}
		got, err := decodeWorkerMetadata(m.encode(v))
		if v == 0 {
			m.Owned = workSet{} // version 0 does not carry it
		}
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Fatalf("v%d metadata %+v, %v", v, got, err)
		}
		a := workerAssignment{Version: v, Leader: "m1", LeaderURL: "http://w1:8083", ConfigOffset: 7,
			Connectors: []string{"a", "b"}, Tasks: []TaskID{{"a", 0}, {"a", 1}, {"c", 0}}}
		if v > 0 {
			a.Revoked, a.Delay = workSet{Connectors: []string{"d"}, Tasks: []TaskID{{"d", 3}}}, 5000
		}
		ga, err := decodeWorkerAssignment(a.encode())
		if err != nil || !reflect.DeepEqual(ga, a) {
			t.Fatalf("v%d assignment %+v, %v", v, ga, err)
		}
	}
	// Empty owned work travels as null bytes.
	got, err := decodeWorkerMetadata(workerMetadata{URL: "u"}.encode(1))
	if err != nil || !got.Owned.empty() {
		t.Fatalf("empty owned: %+v, %v", got, err)
	}
	// A version 1 assignment without revoked and delay (tolerated, as in
	// Kafka) decodes with them empty.
	a := workerAssignment{Version: 0, Leader: "m1", Connectors: []string{"a"}}
	b := a.encode()
	b[1] = 1
	ga, err := decodeWorkerAssignment(b)
	if err != nil || ga.Version != 1 || ga.Delay != 0 || !ga.Revoked.empty() {
		t.Fatalf("short v1 assignment: %+v, %v", ga, err)
	}
	for _, bad := range [][]byte{{0, 0, 1}, {0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}} {
		if _, err := decodeWorkerAssignment(bad); err == nil {
			t.Fatalf("%x decoded", bad)
		}
		if _, err := decodeWorkerMetadata(bad); err == nil {
			t.Fatalf("%x decoded as metadata", bad)
		}
	}
}

func TestOfferedProtocols(t *testing.T) {
	for setting, want := range map[string][]string{
		ConnectProtocolEager:      {"default"},
		ConnectProtocolCompatible: {"compatible", "default"},
		ConnectProtocolSessioned:  {"sessioned", "compatible", "default"},
	} {
		if got := offeredProtocols(setting); !reflect.DeepEqual(got, want) {
			t.Errorf("%s offers %v, want %v", setting, got, want)
		}
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
