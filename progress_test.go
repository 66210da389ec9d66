package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// screen is a tiny terminal: it interprets \r, \n and ESC[K, and records
// whether any line ran past its width (which a real terminal would wrap).
type screen struct {
	width   int
	lines   [][]byte
	col     int
	wrapped bool
}

func newScreen(width int) *screen { return &screen{width: width, lines: [][]byte{nil}} }

func (s *screen) Write(p []byte) (int, error) {
	str := string(p)
	for i := 0; i < len(str); i++ {
		cur := &s.lines[len(s.lines)-1]
		switch c := str[i]; {
		case c == '\r':
			s.col = 0
		case c == '\n':
			s.lines = append(s.lines, nil)
			s.col = 0
		case strings.HasPrefix(str[i:], "\x1b[K"):
			*cur = (*cur)[:min(s.col, len(*cur))]
			i += 2
		default:
			if s.col >= s.width {
				s.wrapped = true
			}
			for len(*cur) <= s.col {
				*cur = append(*cur, ' ')
			}
			(*cur)[s.col] = c
			s.col++
		}
	}
	return len(p), nil
}

func (s *screen) text() []string {
	out := make([]string, len(s.lines))
	for i, l := range s.lines {
		out[i] = string(l)
	}
	return out
}

// busy is a frame with every field shown.
func busy() progressState {
	return progressState{
		done: 1234, total: 3000, skipped: 17, created: 1100, updated: 90, deleted: 12, failed: 32,
		work: 2500, workDone: 1234, retries: 456, throttled: 78, elapsed: 41 * time.Second,
		pause: "429 with Retry-After 5s", interrupted: true,
	}
}

// TestBarFitsTheTerminal renders frames into terminals of 60, 80 and 120
// columns: no line reaches the last column, the essential fields stay.
func TestBarFitsTheTerminal(t *testing.T) {
	frames := []progressState{
		{total: 3000, work: 3000},
		{done: 10, total: 3000, work: 3000, workDone: 10, elapsed: time.Second, created: 10},
		busy(),
		func() progressState { s := busy(); s.final = true; return s }(),
		{done: 99999, total: 100000, work: 100000, workDone: 99999, created: 99999, elapsed: time.Hour},
	}
	for _, width := range []int{40, 60, 80, 120} {
		for i, f := range frames {
			sc := newScreen(width)
			line := renderBar(f, width)
			fmt.Fprint(sc, "\r\x1b[K"+line)
			if sc.wrapped || len(line) >= width {
				t.Errorf("width %d, frame %d: %d columns: %q", width, i, len(line), line)
			}
			if !strings.Contains(line, fmt.Sprintf("%d/%d", f.done, f.total)) {
				t.Errorf("width %d, frame %d: no done/total: %q", width, i, line)
			}
			if f.failed > 0 && !strings.Contains(line, fmt.Sprintf("failed %d", f.failed)) {
				t.Errorf("width %d, frame %d: failures dropped: %q", width, i, line)
			}
			if f.interrupted && !strings.Contains(line, "interrupted") {
				t.Errorf("width %d, frame %d: the interrupt is not shown: %q", width, i, line)
			}
		}
	}
	// With room, everything shows: the bar, the counts, retries, throttles, the pause.
	wide := renderBar(busy(), 200)
	for _, want := range []string{"[=", "created 1100", "updated 90", "deleted 12", "retries 456", "throttled 78", "paused: 429 with Retry-After 5s", "interrupted: finishing requests in flight"} {
		if !strings.Contains(wide, want) {
			t.Errorf("200 columns: no %q in %q", want, wide)
		}
	}
}

// TestBarSaysWhyTheRunIsPaused: on 80 columns, a run paused for a closed
// window shows why and for how long, beside its counts (the pacer keeps its
// reasons under 50 characters).
func TestBarSaysWhyTheRunIsPaused(t *testing.T) {
	s := progressState{done: 99, total: 300, work: 300, workDone: 99, created: 99, retries: 16, throttled: 16,
		elapsed: 3 * time.Second, pause: "closed window, 16 throttled in a row (8.1s left)"}
	line := renderBar(s, 80)
	for _, want := range []string{"99/300", "throttled 16", "paused: closed window, 16 throttled in a row (8.1s left)"} {
		if !strings.Contains(line, want) {
			t.Errorf("no %q in %q", want, line)
		}
	}
}

// TestLogLineClearsTheBar: a log line written while the bar shows replaces
// it whole, and the bar is drawn again below it.
func TestLogLineClearsTheBar(t *testing.T) {
	sc := newScreen(80)
	lw := &lockedWriter{w: sc}
	lw.setStatus(renderBar(busy(), 80))
	lw.setStatus(renderBar(busy(), 80))
	fmt.Fprint(lw, "12:00:00 WRN account failed account=acme-crm\n")
	lw.endStatus("final")
	got := sc.text()
	want := []string{"12:00:00 WRN account failed account=acme-crm", "final", ""}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("screen:\n%q\nwant\n%q", got, want)
	}
	// Once the bar is ended, writes go through untouched.
	fmt.Fprint(lw, "after\n")
	if got := sc.text(); got[2] != "after" {
		t.Fatalf("after the bar: %q", got)
	}
}

// TestRateOverTheRemainingWork: a rerun where 90% of the accounts are
// unchanged (done at once) shows the rate and ETA of the accounts that need
// requests, not of all.
func TestRateOverTheRemainingWork(t *testing.T) {
	// 1,000 accounts: 900 unchanged, done at once; of the 100 to create, 50 done in 10 s.
	s := progressState{done: 950, total: 1000, created: 50, work: 100, workDone: 50, elapsed: 10 * time.Second}
	if r := s.rate(); r != 5 {
		t.Fatalf("rate %v, want 5/s", r)
	}
	if eta, ok := s.eta(); !ok || eta != 10*time.Second {
		t.Fatalf("ETA %v, want 10s", eta)
	}
	if line := renderBar(s, 80); !strings.Contains(line, "5.0/s ETA 10s") {
		t.Fatalf("bar %q", line)
	}
}
