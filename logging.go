package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/term"

	"github.com/hubprov/hubprov/manifest"
	"github.com/hubprov/hubprov/provision"
)

// redactor replaces every known secret value with [redacted]. It guards the
// log stream and platform messages: a second line of defence behind
// manifest.Secret, which never prints itself.
type redactor struct {
	mu     sync.Mutex
	values map[string]bool
	r      atomic.Pointer[strings.Replacer]
}

func newRedactor(m *manifest.Manifest) *redactor {
	r := &redactor{values: map[string]bool{}}
	var vals []string
	for _, s := range m.Secrets() {
		vals = append(vals, s.Reveal())
	}
	r.add(vals...)
	return r
}

// add makes vs secrets to redact; the replacer is rebuilt once per call, so
// add a run's instance tokens together. Values shorter than 4 bytes are
// ignored: replacing them would garble ordinary text and they protect nothing.
func (r *redactor) add(vs ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	added := false
	for _, v := range vs {
		if len(v) >= 4 && !r.values[v] {
			r.values[v], added = true, true
		}
	}
	if !added {
		return
	}
	vals := make([]string, 0, len(r.values))
	for s := range r.values {
		vals = append(vals, s)
	}
	// Longest first, so a secret containing another is replaced whole.
	sort.Slice(vals, func(i, j int) bool { return len(vals[i]) > len(vals[j]) })
	pairs := make([]string, 0, 2*len(vals))
	for _, s := range vals {
		pairs = append(pairs, s, "[redacted]")
	}
	r.r.Store(strings.NewReplacer(pairs...))
}

func (r *redactor) scrub(s string) string {
	if rep := r.r.Load(); rep != nil {
		return rep.Replace(s)
	}
	return s
}

// redactWriter scrubs every write. zerolog writes one event per call.
type redactWriter struct {
	w io.Writer
	r *redactor
}

func (w redactWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(w.w, w.r.scrub(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	if l, ok := w.(*lockedWriter); ok {
		w = l.w
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// lockedWriter serializes writes: the run's workers log, and the progress
// display draws, on the same stderr.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// newLogger builds the run's logger on stderr: console on a terminal, JSON otherwise.
func newLogger(env *cmdEnv, format, level string, r *redactor) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		return zerolog.Nop(), fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	if format == "" {
		format = "json"
		if isTerminal(env.stderr) {
			format = "console"
		}
	}
	var w io.Writer = redactWriter{w: env.stderr, r: r}
	switch format {
	case "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: !isTerminal(env.stderr)}
	default:
		return zerolog.Nop(), fmt.Errorf("--log-format %q: want console or json", format)
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}

// showProgress draws a progress bar on a terminal, or logs a line every
// interval elsewhere, until stop is closed.
func showProgress(env *cmdEnv, log zerolog.Logger, p *provision.Progress, bar bool, stop <-chan struct{}) (wait func()) {
	done := make(chan struct{})
	start := time.Now()
	tick := 5 * time.Second
	if bar {
		tick = 200 * time.Millisecond
	}
	go func() {
		defer close(done)
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-stop:
				if bar {
					fmt.Fprintf(env.stderr, "\r%s\n", progressLine(p, start))
				}
				return
			case <-t.C:
				if bar {
					fmt.Fprintf(env.stderr, "\r%s", progressLine(p, start))
				} else {
					log.Info().Int64("done", p.Done.Load()).Int64("total", p.Total).
						Int64("created", p.Created.Load()).Int64("updated", p.Updated.Load()).
						Int64("deleted", p.Deleted.Load()).Int64("failed", p.Bad.Load()).
						Msg("progress")
				}
			}
		}
	}()
	return func() { <-done }
}

func progressLine(p *provision.Progress, start time.Time) string {
	done, total := p.Done.Load(), p.Total
	const width = 30
	fill := 0
	if total > 0 {
		fill = int(done * width / total)
	}
	elapsed := time.Since(start).Seconds()
	ratePerS := 0.0
	if elapsed > 0 {
		ratePerS = float64(done) / elapsed
	}
	eta := "--"
	if ratePerS > 0 && done < total {
		eta = (time.Duration(float64(total-done)/ratePerS) * time.Second).Round(time.Second).String()
	} else if done >= total {
		eta = "0s"
	}
	return fmt.Sprintf("[%s%s] %d/%d  created %d  updated %d  deleted %d  failed %d  %.0f/s  ETA %s   ",
		strings.Repeat("=", fill), strings.Repeat(" ", width-fill), done, total,
		p.Created.Load(), p.Updated.Load(), p.Deleted.Load(), p.Bad.Load(), ratePerS, eta)
}
