package provision_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hubprov/hubprov/manifest"
	"github.com/hubprov/hubprov/provision"
	"github.com/hubprov/hubprov/provision/emulator"
)

// seedAccount stores an instance of account a in set, as a run of today
// would have created it, without counting a create; it returns its id.
func seedAccount(b *bench, set string, a manifest.Account) string {
	return b.emu.AddInstance(emulator.Seed{
		Name:    a.Name,
		Element: a.Element,
		Tags:    append(append([]string{}, a.Tags...), "hubprov:set="+set, "hubprov:spec="+provision.Fingerprint(set, a)),
	})
}

// TestLoneApplyListsOnceAtTheEnd: an apply that no other run disturbs lists
// the set once after its creates, however many pages that listing has: the
// list requests are the start read's pages and one listing's, not two. The
// start read shows an instance outside the manifest and a duplicate (its
// extra is deleted by the plan); neither is a sign of another run.
func TestLoneApplyListsOnceAtTheEnd(t *testing.T) {
	t.Run("cloud elements, 3 pages", func(t *testing.T) {
		b := newBench(t, emulator.Options{}, "demo-user")
		accts := accounts(450)
		outside := accounts(1)[0]
		outside.Name = "legacy-portal"
		seedAccount(b, "acme", outside)
		for _, a := range accts[:100] {
			seedAccount(b, "acme", a)
		}
		seedAccount(b, "acme", accts[0]) // a younger duplicate
		plan, out := run(t, b, "acme", accts, false, provision.Options{Parallelism: 16})
		if got := count(out, provision.Create, provision.Succeeded); got != 350 || out.Aborted != "" {
			t.Fatalf("created %d of 350 (aborted %q)", got, out.Aborted)
		}
		if c := plan.Changes[0]; c.Action != provision.Duplicate || out.Results[0].DuplicatesDeleted != 1 {
			t.Fatalf("first account: %s, %d duplicates deleted", c.Action, out.Results[0].DuplicatesDeleted)
		}
		s := b.emu.Stats()
		// The start read: 102 instances, one page; the end: 451, three pages.
		if s.CEInstances != 451 || s.ByOp[emulator.OpList] != 1+3 {
			t.Fatalf("%d live instances, %d list requests; want 451, 1+3", s.CEInstances, s.ByOp[emulator.OpList])
		}
	})
	t.Run("flow service, no total", func(t *testing.T) {
		b := newFlowBench(t, emulator.Options{}, "prod")
		accts := flowAccounts(30)
		run(t, b, "acme", accts[:10], false, provision.Options{})
		before := b.emu.Stats().ByOp[emulator.OpList]
		_, out := run(t, b, "acme", accts, false, provision.Options{})
		if got := count(out, provision.Create, provision.Succeeded); got != 20 {
			t.Fatalf("created %d of 20", got)
		}
		if lists := b.emu.Stats().ByOp[emulator.OpList] - before; lists != 1+1 {
			t.Fatalf("%d list requests, want 1+1 (the start read, one end-of-run listing)", lists)
		}
	})
}

// listWatch passes calls to a Platform, counts the set's listings (their
// first pages) and pages, and calls on before each page is sent: listing
// counts from 1, page from 1 within it.
type listWatch struct {
	provision.Platform
	on func(listing, page int)

	mu             sync.Mutex
	listings, page int
}

func (w *listWatch) ListPage(ctx context.Context, q provision.Query, token string) (provision.Page, error) {
	if q.Name == "" {
		w.mu.Lock()
		if token == "" {
			w.listings++
			w.page = 0
		}
		w.page++
		l, p := w.listings, w.page
		w.mu.Unlock()
		if w.on != nil {
			w.on(l, p)
		}
	}
	return w.Platform.ListPage(ctx, q, token)
}

func (w *listWatch) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.listings
}

// TestEndListingListsAgainOnSigns: the end-of-run listing is believed alone
// only when it shows no sign of another run at work nor of a lagging list;
// each sign makes the run list again until two listings settle. The set
// holds 200 (or 201) instances this run knows (150 or 151 read at its start,
// one of them outside the manifest, and 50 it creates) when the end-of-run
// listing begins; another run then acts just before that listing's first
// page or its second:
//   - it creates an instance of an account this run created, older (an
//     earlier creation time), which the listing shows: this run keeps it and
//     deletes its own;
//   - it deletes one of this run's instances, or one the run read at its
//     start: the listing does not show it;
//   - once the first page is read, it deletes the instance outside the
//     manifest, which that page showed: the listing shows every instance
//     this run knows, and only the totals the pages report (201, then 200)
//     tell;
//   - with offset page tokens, it creates the older instance (201st of the
//     listing) and, once the first page is read, deletes the instance outside
//     the manifest (listed on the first page): the second page starts one
//     instance too far and skips the older one, and again only the totals
//     tell. Believed alone, that listing would
//     map the account to this run's instance, which the other run deletes.
func TestEndListingListsAgainOnSigns(t *testing.T) {
	for _, c := range []struct {
		name    string
		offsets bool
		known   int // the instances this run knows when it ends: 200 or 201
		// act is what the other run does before page p of the end-of-run
		// listing: make older, an older instance of the last account; drop,
		// delete the instance with that id.
		act    func(p int, older func(), drop func(id string), ours, read string)
		adopts bool // the account maps to the other run's older instance
	}{
		{name: "another run's instance appears", known: 200, act: func(p int, older func(), _ func(string), _, _ string) {
			if p == 1 {
				older()
			}
		}, adopts: true},
		{name: "an instance this run created disappears", known: 200, act: func(p int, _ func(), drop func(string), ours, _ string) {
			if p == 1 {
				drop(ours)
			}
		}},
		{name: "an instance this run read disappears", known: 200, act: func(p int, _ func(), drop func(string), _, read string) {
			if p == 1 {
				drop(read)
			}
		}},
		{name: "the total changes while paging", known: 201, act: func(p int, _ func(), drop func(string), _, read string) {
			if p == 2 {
				drop(read) // already listed on page 1: only the totals tell
			}
		}},
		{name: "offset pages skip another run's instance", offsets: true, known: 200, act: func(p int, older func(), drop func(string), _, read string) {
			switch p {
			case 1:
				older()
			case 2:
				drop(read)
			}
		}, adopts: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer provision.ShortLagWaits()()
			var shift atomic.Int64 // the emulator's clock, from now
			b := newBench(t, emulator.Options{OffsetPages: c.offsets, Now: func() time.Time { return time.Now().Add(time.Duration(shift.Load())) }}, "demo-user")
			accts := accounts(c.known - 1)
			last := accts[len(accts)-1]
			outside := accounts(1)[0]
			outside.Name = "legacy-portal"
			read := seedAccount(b, "acme", outside)
			for _, a := range accts[:len(accts)-50] {
				seedAccount(b, "acme", a)
			}
			opts := provision.Options{Log: zerolog.Nop()}
			remote, _, err := provision.NewRun(b.pf, opts).ReadRemote(context.Background(), "acme", provision.Recovery{})
			if err != nil {
				t.Fatal(err)
			}
			plan := provision.MakePlan("acme", manifest.CloudElements, accts, remote, provision.PlanOptions{})
			var rival string
			w := &listWatch{Platform: b.pf}
			var mine string
			w.on = func(listing, page int) {
				if listing != 1 {
					return
				}
				older := func() {
					shift.Store(int64(-time.Hour))
					rival = seedAccount(b, "acme", last)
					shift.Store(0)
				}
				drop := func(id string) {
					if err := b.pf.Delete(context.Background(), provision.Instance{ID: id}); err != nil {
						t.Errorf("delete %s: %v", id, err)
					}
				}
				if page == 1 {
					mine = findInstance(t, b, last.Name)
				}
				c.act(page, older, drop, mine, read)
			}
			out := provision.NewRun(w, opts).Apply(context.Background(), plan)
			if got := count(out, provision.Create, provision.Succeeded); got != 50 {
				t.Fatalf("created %d of 50: %+v", got, out.Results)
			}
			if n := w.count(); n < 2 {
				t.Fatalf("%d end-of-run listings: the run believed a listing that showed another run at work", n)
			}
			res := out.Results[len(out.Results)-1]
			switch {
			case c.adopts && (res.InstanceID != rival || res.DuplicatesDeleted != 1):
				t.Fatalf("%s maps %s (%d duplicates deleted); want the older instance %s, this run's deleted", res.Name, res.InstanceID, res.DuplicatesDeleted, rival)
			case c.adopts:
				if _, live := b.emu.Instance(mine); live {
					t.Fatalf("this run's younger instance %s of %s is still live", mine, res.Name)
				}
			}
		})
	}
}

// findInstance returns the id of the live instance of the account named name.
func findInstance(t *testing.T, b *bench, name string) string {
	t.Helper()
	for _, id := range b.emu.Instances() {
		if v, _ := b.emu.Instance(id); v.Name == name {
			return id
		}
	}
	t.Fatalf("no instance of %s", name)
	return ""
}
