package emulator

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

func TestSnapshotRestore(t *testing.T) {
	e, s := start(t, Options{})
	call(t, testClient, "POST", s.CloudElementsURL()+"/instances", ceHeader(), apiKeyBody("acme", "s1"))
	fid := e.AddConnection(FlowSeed{Name: "f", AuthParams: map[string]string{"clientId": "c"}})
	var buf bytes.Buffer
	if err := e.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	e2 := New(Options{})
	if err := e2.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	ids := e.Instances()
	if len(ids) != 2 {
		t.Fatalf("%d ids", len(ids))
	}
	for _, id := range ids {
		a, _ := e.Instance(id)
		b, ok := e2.Instance(id)
		a.Created, b.Created = a.Created.UTC(), b.Created.UTC()
		if !ok || !reflect.DeepEqual(a.Configuration, b.Configuration) || a.Name != b.Name || a.Token != b.Token || a.ETag != b.ETag {
			t.Errorf("instance %s: %+v, restored %+v", id, a, b)
		}
	}
	// New ids continue after the restored ones.
	if id := e2.AddInstance(Seed{Name: "next"}); id != "58773" {
		t.Errorf("next id %s", id)
	}
	if v, _ := e2.Instance(fid); v.AuthParams["clientId"] != "c" {
		t.Errorf("connection %+v", v)
	}
	if err := e2.Restore(strings.NewReader(`{"version":2}`)); err == nil {
		t.Error("unknown version restored")
	}
}
