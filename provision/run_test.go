package provision

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hubprov/hubprov/manifest"
)

// hostile is a platform that misbehaves on purpose. Its listing hangs until
// the request's context ends, or pages forever; its writes hang too.
type hostile struct {
	Platform   // nil: the methods a test does not use panic
	hang       bool
	pages      func(token string) Page // an endless or lying listing
	requests   atomic.Int64
	writeEnded atomic.Int64 // when a hanging write's context ended, in ns since the test's start
	start      time.Time
}

func (h *hostile) Name() manifest.Platform { return manifest.CloudElements }

func (h *hostile) ListPage(ctx context.Context, q Query, token string) (Page, error) {
	h.requests.Add(1)
	if h.hang {
		<-ctx.Done()
		return Page{}, &APIError{Platform: "cloud-elements", Op: "list", Err: ctx.Err()}
	}
	return h.pages(token), nil
}

func (h *hostile) Create(ctx context.Context, d Desired) (Instance, error) {
	h.requests.Add(1)
	<-ctx.Done()
	h.writeEnded.Store(int64(time.Since(h.start)))
	return Instance{}, &APIError{Platform: "cloud-elements", Op: "create", Err: ctx.Err()}
}

// TestHangingListEndsWithinAttemptsTimesTimeout: a platform that never answers
// a list page ends the listing after --max-attempts attempts of
// --request-timeout each plus the backoff between them, and every attempt is
// counted.
func TestHangingListEndsWithinAttemptsTimesTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &hostile{hang: true}
		r := NewRun(h, Options{MaxAttempts: 3, RequestTimeout: 2 * time.Second})
		start := time.Now()
		_, _, err := r.ReadRemote(context.Background(), "acme", Recovery{})
		took := time.Since(start)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want a deadline exceeded", err)
		}
		// 3 attempts x 2 s, plus at most 0.5 s + 1 s of backoff.
		if bound := 3*2*time.Second + 1500*time.Millisecond; took > bound {
			t.Errorf("the listing took %v, more than %v", took, bound)
		}
		if req, _, _ := r.Counts(); req != 3 || h.requests.Load() != 3 {
			t.Errorf("counted %d requests, sent %d; want 3 and 3", req, h.requests.Load())
		}
	})
}

// TestInterruptCutsAHangingListAtOnce: an interrupt during a list page that
// never ends ends the listing at once, not after the request timeout.
func TestInterruptCutsAHangingListAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &hostile{hang: true}
		r := NewRun(h, Options{MaxAttempts: 5, RequestTimeout: time.Minute})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(time.Second, cancel)
		start := time.Now()
		_, _, err := r.ReadRemote(ctx, "acme", Recovery{})
		if took := time.Since(start); took != time.Second {
			t.Errorf("the listing ended %v after the start, want at the interrupt (1s)", took)
		}
		if Classify(err) != Canceled {
			t.Errorf("err = %v (class %s), want canceled", err, Classify(err))
		}
	})
}

// TestInterruptLetsAWriteFinishWithinGrace: a create in flight at an
// interrupt is not cut off at once (it may be committing), but within
// writeGrace, and the account is not retried.
func TestInterruptLetsAWriteFinishWithinGrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &hostile{start: time.Now()}
		r := NewRun(h, Options{MaxAttempts: 5, RequestTimeout: time.Hour})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(time.Second, cancel)
		a := manifest.Account{Name: "portal-1", Element: "hubspot"}
		plan := Plan{Set: "acme", Changes: []Change{{Name: a.Name, Action: Create, Desired: &Desired{Account: a, Set: "acme"}}}}
		out := r.Apply(ctx, plan)
		if ended := time.Duration(h.writeEnded.Load()); ended != time.Second+writeGrace {
			t.Errorf("the hanging create was cut off at %v, want at the interrupt plus %v", ended, writeGrace)
		}
		if out.AbortClass != Canceled || out.Results[0].Status != Failed && out.Results[0].Status != Skipped {
			t.Errorf("outcome %+v", out)
		}
		if h.requests.Load() != 1 {
			t.Errorf("%d creates sent, want 1", h.requests.Load())
		}
	})
}

// pageOf returns a page of n instances of set acme, numbered from first.
func pageOf(first, n int, next string, total int) Page {
	p := Page{Next: next, Scanned: n, Total: total}
	for i := range n {
		p.Instances = append(p.Instances, Instance{ID: strconv.Itoa(first + i), Name: fmt.Sprintf("p-%d", first+i), Set: "acme"})
	}
	return p
}

// TestEndlessListingStops: a platform that announces another page for ever
// is stopped with ErrEndlessListing after a bounded number of pages, whether
// it repeats a token, exceeds its own total, or says nothing.
func TestEndlessListingStops(t *testing.T) {
	pages, listed, bytes := maxPages, maxListed, maxListedBytes
	defer func() { maxPages, maxListed, maxListedBytes = pages, listed, bytes }()
	maxPages, maxListed, maxListedBytes = 50, 5000, 1<<20
	fat := func(first, n int, next string) Page {
		p := pageOf(first, n, next, -1)
		for i := range p.Instances {
			p.Instances[i].Configuration = map[string]string{"event.poller.urls": strings.Repeat("a", 30<<10)}
		}
		return p
	}
	n := 0
	for _, tc := range []struct {
		name     string
		page     func(token string) Page
		maxPages int64
	}{
		{"repeated token", func(string) Page { n++; return pageOf(n*10, 10, "same", -1) }, 2},
		{"tokens cycling", func(string) Page { n++; return pageOf(n*10, 10, strconv.Itoa(n%3), -1) }, 4},
		{"more than the total", func(string) Page { n++; return pageOf(n*10, 10, "t"+strconv.Itoa(n), 25) }, 4},
		{"no total: the page ceiling", func(string) Page { n++; return pageOf(n*10, 10, "t"+strconv.Itoa(n), -1) }, 50},
		{"huge pages: the instance ceiling", func(string) Page { n++; return pageOf(n*2000, 2000, "t"+strconv.Itoa(n), -1) }, 3},
		{"fat pages: the size ceiling", func(string) Page { n++; return fat(n*10, 10, "t"+strconv.Itoa(n)) }, 4},
		{"a token of a megabyte", func(string) Page { n++; return pageOf(n, 1, strings.Repeat("t", 1<<20)+strconv.Itoa(n), -1) }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n = 0
			h := &hostile{pages: tc.page}
			_, err := NewRun(h, Options{}).List(context.Background(), "acme")
			if !errors.Is(err, ErrEndlessListing) {
				t.Fatalf("err = %v, want ErrEndlessListing", err)
			}
			if got := h.requests.Load(); got > tc.maxPages {
				t.Errorf("%d pages read, want at most %d", got, tc.maxPages)
			}
		})
	}
	// A listing that grows by less than a page while it is read is fine.
	h := &hostile{pages: func(tok string) Page {
		switch tok {
		case "":
			return pageOf(0, 10, "a", 20)
		case "a":
			return pageOf(10, 10, "b", 25)
		}
		return pageOf(20, 5, "", 25)
	}}
	got, err := NewRun(h, Options{}).List(context.Background(), "acme")
	if err != nil || len(got) != 25 {
		t.Fatalf("a growing listing: %d instances, %v", len(got), err)
	}
}

// TestRunCountsEveryCall: the listing, the lookups and the writes of one run
// are counted together in its Outcome.
func TestRunCountsEveryCall(t *testing.T) {
	h := &hostile{pages: func(tok string) Page {
		if tok == "" {
			return pageOf(0, 2, "next", 3)
		}
		return pageOf(2, 1, "", 3)
	}}
	r := NewRun(h, Options{})
	remote, _, err := r.ReadRemote(context.Background(), "acme", Recovery{Pending: []string{"p-0", "gone"}})
	if err != nil || len(remote) != 3 {
		t.Fatalf("%d instances, %v", len(remote), err)
	}
	// Two list pages, then the lookup of "gone" (one page); p-0 is listed.
	out := r.Apply(context.Background(), Plan{Set: "acme"})
	if out.Requests != 2+2 {
		t.Fatalf("the outcome counts %d requests, want 4 (two list pages and a lookup's two pages)", out.Requests)
	}
}
