package provision

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"strconv"
	"testing"
	"time"
)

// The fuzz targets of every parser of outside input in this package. Their
// seed corpora are in testdata/fuzz/<target>; .ci/run gives each a short run.

// FuzzReadSaved feeds arbitrary bytes to ReadSaved, as 'apply PLAN.json'
// does: it must never panic, and a plan it accepts compares with any plan.
func FuzzReadSaved(f *testing.F) {
	f.Add([]byte(`{"version":1,"kind":"hubprov-plan","set":"s","platform":"cloud-elements","baseURL":"https://x","manifests":[{"path":"m.yaml","sha256":"00"}],"summary":{"create":1},"changes":[{"name":"a","action":"create","element":"hubspot","fingerprint":"f"}]}`))
	f.Add([]byte(`{"version":1,"kind":"hubprov-plan","changes":[{"name":"a","action":"update","remote":{"instanceId":"1","fingerprint":"x","etag":"\"e\""},"diff":[{"field":"tags","old":["a"],"new":null}]}]}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		sp, err := ReadSaved(bytes.NewReader(data))
		if err != nil {
			return
		}
		if sp.Kind != SavedPlanKind || sp.Version != 1 {
			t.Fatalf("accepted kind %q version %d", sp.Kind, sp.Version)
		}
		_ = sp.Compare(Plan{Set: sp.Set, Changes: []Change{{Name: "a", Action: Create}}})
		_ = WriteSaved(io.Discard, sp)
	})
}

// FuzzReadReport feeds arbitrary bytes to ReadReport, as 'report merge'
// does: it must never panic; a report it accepts merges with itself only
// when it names no account, and writes back out.
func FuzzReadReport(f *testing.F) {
	f.Add([]byte(`{"version":1,"run":{"command":"apply","set":"s","platform":"cloud-elements","baseURL":"https://x","requests":3},"summary":{"total":1},"accounts":[{"name":"a","element":"hubspot","action":"create","status":"succeeded","instanceId":"1","token":"t","attempts":1,"durationMs":5}]}`))
	f.Add([]byte(`{"version":1,"accounts":[{"name":"a","status":"failed","error":{"class":"transient","httpStatus":503,"message":"m"}}]}`))
	f.Add([]byte(`{"version":1,"accounts":null}`))
	f.Add([]byte(`{"version":"1"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ReadReport(bytes.NewReader(data))
		if err != nil {
			return
		}
		if r.Version != 1 {
			t.Fatalf("accepted version %d", r.Version)
		}
		m, err := MergeReports(r)
		if err != nil {
			return // duplicate names within the one report
		}
		if len(m.Accounts) != len(r.Accounts) {
			t.Fatalf("merging one report of %d accounts gave %d", len(r.Accounts), len(m.Accounts))
		}
		if _, err := MergeReports(r, r); err == nil && len(r.Accounts) > 0 {
			t.Fatal("a report merged with itself: its accounts appear twice, yet no error")
		}
		_ = m.WriteJSON(io.Discard)
		_ = m.WriteJUnit(io.Discard)
	})
}

// FuzzJournal feeds arbitrary bytes to the journal reader: it must never
// panic, and what it reads must settle into a recovery or a clear refusal.
func FuzzJournal(f *testing.F) {
	target := JournalTarget{Set: "s", Platform: "cloud-elements", BaseURL: "https://x"}
	f.Add([]byte(`{"time":"2026-12-01T00:00:00Z","type":"intent","set":"s","platform":"cloud-elements","baseURL":"https://x","name":"a","action":"create"}` + "\n" +
		`{"time":"2026-12-01T00:00:01Z","type":"outcome","set":"s","platform":"cloud-elements","baseURL":"https://x","name":"a","action":"create","status":"succeeded","instanceId":"1"}` + "\n"))
	f.Add([]byte(`{"type":"intent","name":"a","set":"other"}` + "\n" + `{"type":"intent","na`))
	f.Add([]byte("garbage\n{\"type\":\"outcome\",\"name\":\"b\"}\n"))
	f.Add([]byte("\n\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st := parseJournal(data)
		if len(st.Records)+len(st.Corrupt) > bytes.Count(data, []byte("\n"))+1 {
			t.Fatalf("%d records and %d corrupt lines from %d lines", len(st.Records), len(st.Corrupt), bytes.Count(data, []byte("\n"))+1)
		}
		_, _ = st.Recovery(target, []string{"a", "b"})
	})
}

// FuzzRetryAfter feeds arbitrary header values to ParseRetryAfter: the pause
// is never negative and never over RetryAfterCap, whatever the value.
func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "7", "60", "3600", "9223372036854775807", "99999999999999999999999", "-1", "+5", "1.5",
		"Wed, 21 Oct 2015 07:28:00 GMT", "Monday, 01-Dec-26 12:00:00 GMT", "Tue Dec  1 12:00:00 2026", "Fri, 31 Dec 9999 23:59:59 GMT"} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		if d := ParseRetryAfter(v, now); d < 0 || d > RetryAfterCap {
			t.Fatalf("ParseRetryAfter(%q) = %v, want 0 to %v", v, d, RetryAfterCap)
		}
	})
}

// scripted is a platform whose listing is written by fuzz input: each page's
// next token, announced total and size come from the bytes.
type scripted struct {
	Platform
	data  []byte
	pages int
}

func (s *scripted) ListPage(_ context.Context, q Query, token string) (Page, error) {
	s.pages++
	if len(s.data) < 4 {
		return Page{Total: -1}, nil
	}
	b := s.data[:4]
	s.data = s.data[4:]
	if b[0] == 0xff {
		return Page{}, &APIError{Op: "list", Status: 400, Message: "bad page token " + token}
	}
	n := int(b[1] % 8)
	p := Page{Scanned: n + int(b[2]%3), Total: int(int8(b[3])) * 3}
	for i := range n {
		p.Instances = append(p.Instances, Instance{ID: strconv.Itoa(s.pages*10 + i), Name: "n" + strconv.Itoa(i), Set: q.Set})
	}
	switch b[0] % 4 {
	case 0: // the last page
	case 1:
		p.Next = "t" + strconv.Itoa(s.pages) // fresh
	case 2:
		p.Next = "t" + strconv.Itoa(int(b[2]%4)) // may repeat
	case 3:
		p.Next = token // the same again
	}
	return p, nil
}

// FuzzPageTokens drives the engine's pagination with listings written by the
// fuzzer (fresh, repeated and cycling tokens, lying totals, empty and huge
// pages): it always ends, within maxPages pages, with the instances or an
// error, never a panic.
func FuzzPageTokens(f *testing.F) {
	f.Add([]byte{1, 3, 0, 5, 1, 3, 0, 5, 0, 1, 0, 0})
	f.Add([]byte{3, 1, 1, 0})
	f.Add([]byte{2, 7, 2, 1, 2, 7, 3, 1, 2, 7, 0, 1, 2, 7, 1, 1, 2, 7, 2, 1})
	f.Add(binary.BigEndian.AppendUint32(nil, 0xff000000))
	f.Fuzz(func(t *testing.T, data []byte) {
		pages, listed := maxPages, maxListed
		maxPages, maxListed = 64, 200
		defer func() { maxPages, maxListed = pages, listed }()
		s := &scripted{data: data}
		got, err := NewRun(s, Options{MaxAttempts: 1}).List(context.Background(), "s")
		if s.pages > maxPages {
			t.Fatalf("%d pages read, more than %d", s.pages, maxPages)
		}
		if err == nil && len(got) > maxListed+8 {
			t.Fatalf("%d instances kept, more than %d", len(got), maxListed)
		}
		var ae *APIError
		if err != nil && !errors.Is(err, ErrEndlessListing) && !errors.As(err, &ae) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}
