package emulator

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestListLag: lists show a create only ListLag after it and a delete only
// ListLag after it; reads by id are current at once. Both platforms.
func TestListLag(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)}
	_, s := start(t, Options{ListLag: 5 * time.Second, Now: clock.now})
	ce := s.CloudElementsURL()
	body := `{"element":{"key":"hubspot"},"name":"acme","tags":["hubprov:set=s1"],"configuration":{"authentication.type":"apiKey","hubspot.authorization.apikey":"k1"}}`
	r := call(t, testClient, "POST", ce+"/instances", ceHeader(), body)
	id := fmt.Sprint(r.obj(t)["id"])
	fr := call(t, testClient, "POST", s.FlowServiceURL()+"/connections", flowHeader(), flowBody("acme"))
	cid := fmt.Sprint(fr.obj(t)["id"])

	ceListed := func() int {
		r := call(t, testClient, "GET", ce+"/instances", ceHeader(), "")
		return len(r.arr(t))
	}
	flowListed := func() int {
		r := call(t, testClient, "GET", s.FlowServiceURL()+"/connections", flowHeader(), "")
		items, _ := r.obj(t)["items"].([]any)
		return len(items)
	}
	lookup := call(t, testClient, "GET", ce+"/instances?tags%5B%5D=hubprov:set%3Ds1&searchText=acme", ceHeader(), "")
	if n := ceListed(); n != 0 || flowListed() != 0 || lookup.status != 404 {
		t.Fatalf("just created: list shows %d, flow %d, lookup %d; want none", n, flowListed(), lookup.status)
	}
	if g := call(t, testClient, "GET", ce+"/instances/"+id, ceHeader(), ""); g.status != 200 {
		t.Fatalf("get by id: %d", g.status)
	}
	if g := call(t, testClient, "GET", s.FlowServiceURL()+"/connections/"+cid, flowHeader(), ""); g.status != 200 {
		t.Fatalf("flow get by id: %d", g.status)
	}
	clock.add(5 * time.Second)
	if ceListed() != 1 || flowListed() != 1 {
		t.Fatalf("after the lag: %d, %d", ceListed(), flowListed())
	}
	call(t, testClient, "DELETE", ce+"/instances/"+id, ceHeader(), "")
	call(t, testClient, "DELETE", s.FlowServiceURL()+"/connections/"+cid, flowHeader(), "")
	if g := call(t, testClient, "GET", ce+"/instances/"+id, ceHeader(), ""); g.status != 404 {
		t.Fatalf("get after delete: %d", g.status)
	}
	if ceListed() != 1 || flowListed() != 1 {
		t.Fatal("a delete showed in the lists at once")
	}
	clock.add(5*time.Second + time.Millisecond)
	if ceListed() != 0 || flowListed() != 0 {
		t.Fatal("a delete did not show after the lag")
	}
}

// TestOffsetPagesSkipUnderDeletes: with OffsetPages, page tokens are offsets
// into the listing as it stands, so a delete behind a listing in progress
// makes its next page skip an instance; the default cursor skips nothing.
func TestOffsetPagesSkipUnderDeletes(t *testing.T) {
	for _, offset := range []bool{false, true} {
		_, s := start(t, Options{OffsetPages: offset})
		ce := s.CloudElementsURL()
		var ids []string
		for i := range 5 {
			body := fmt.Sprintf(`{"element":{"key":"hubspot"},"name":"acme-%d","tags":["hubprov:set=s1"],"configuration":{"authentication.type":"apiKey","hubspot.authorization.apikey":"k%d"}}`, i, i)
			ids = append(ids, fmt.Sprint(call(t, testClient, "POST", ce+"/instances", ceHeader(), body).obj(t)["id"]))
		}
		first := call(t, testClient, "GET", ce+"/instances?pageSize=2", ceHeader(), "")
		seen := map[string]bool{}
		for _, in := range first.arr(t) {
			seen[fmt.Sprint(in["id"])] = true
		}
		call(t, testClient, "DELETE", ce+"/instances/"+ids[0], ceHeader(), "")
		for tok := first.header.Get("Elements-Next-Page-Token"); tok != ""; {
			r := call(t, testClient, "GET", ce+"/instances?pageSize=2&nextPage="+tok, ceHeader(), "")
			for _, in := range r.arr(t) {
				seen[fmt.Sprint(in["id"])] = true
			}
			tok = r.header.Get("Elements-Next-Page-Token")
		}
		if got := len(seen); (offset && got != 4) || (!offset && got != 5) {
			t.Fatalf("offset pages %v: the listing showed %d of the 5 instances (%v)", offset, got, seen)
		}
		if offset && seen[ids[2]] {
			t.Fatalf("offset pages: instance %s, shifted onto the page already read, was listed", ids[2])
		}
	}
}
