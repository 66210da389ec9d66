package main

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/hubprov/hubprov/provision"
)

// The progress display is written by hand over x/term rather than with a
// progress-bar library: what it must do (fit any width by dropping fields in
// a set order, share stderr with log lines through lockedWriter, show the
// engine's own counters) is a page of code, and the libraries looked at
// (schollz/progressbar, vbauerster/mpb) each own the terminal writer, which
// would take the log lines away from the one locked, scrubbed stderr.

// progressState is what one frame of the progress display shows.
type progressState struct {
	done, total, skipped              int64
	created, updated, deleted, failed int64
	work, workDone                    int64 // accounts that need requests, and those of them finished
	retries, throttled                int64
	pace                              float64 // requests per second the run is paced at; +Inf when not pacing
	elapsed                           time.Duration
	pause                             string // why the whole run is paused; "" when it is not
	interrupted, final                bool
}

// snapshot reads p. work is the number of accounts that need requests
// (creates, updates, deletes): rate and ETA are over those alone, so that on
// a rerun the unchanged accounts, done at once, do not inflate them.
func snapshot(p *provision.Progress, work int64, elapsed time.Duration, interrupted, final bool) progressState {
	s := progressState{
		done: p.Done.Load(), total: p.Total.Load(), skipped: p.Skipped.Load(),
		created: p.Created.Load(), updated: p.Updated.Load(), deleted: p.Deleted.Load(), failed: p.Bad.Load(),
		work: work, retries: p.Retries.Load(), throttled: p.Throttled.Load(),
		elapsed: elapsed, interrupted: interrupted, final: final,
	}
	rc := p.Rate()
	s.pace = rc.Pace
	if rc.PauseReason != "" {
		s.pause = fmt.Sprintf("%s (%s left)", rc.PauseReason, time.Until(rc.PauseUntil).Round(100*time.Millisecond))
	}
	s.workDone = min(work, s.created+s.updated+s.deleted+s.failed)
	return s
}

// rate is the accounts needing requests finished per second.
func (s progressState) rate() float64 {
	if s.elapsed <= 0 {
		return 0
	}
	return float64(s.workDone) / s.elapsed.Seconds()
}

// eta is the time left at the current rate; ok is false before any rate is known.
func (s progressState) eta() (time.Duration, bool) {
	left := s.work - s.workDone
	if left <= 0 {
		return 0, true
	}
	r := s.rate()
	if r <= 0 || s.interrupted {
		return 0, false
	}
	return time.Duration(float64(left) / r * float64(time.Second)).Round(time.Second), true
}

// paceField shows the pace the run keeps to (requests per second), once the
// rate control paces at all; "" while it does not.
func paceField(s progressState) string {
	if s.pace <= 0 || math.IsInf(s.pace, 1) || s.final {
		return ""
	}
	return "pace " + formatRate(s.pace) + " req/s"
}

// renderBar renders s in fewer than width columns (the last column is left
// free, so that no terminal wraps the line). Fields that do not fit are
// dropped, the least important first: the bar itself, then retries and the
// pace, then the per-action counts, then rate and ETA, then the throttled
// count; done/total, failed, a pause and an interrupt always stay.
func renderBar(s progressState, width int) string {
	type field struct {
		text  string
		prio  int    // lower is kept first
		short string // shown instead when text does not fit; "" for none
	}
	rate := ""
	if s.final {
		rate = "in " + s.elapsed.Round(time.Second).String()
	} else if r := s.rate(); r > 0 {
		rate = fmt.Sprintf("%s/s", formatRate(r))
		if eta, ok := s.eta(); ok {
			rate += " ETA " + eta.String()
		}
	} else if s.work > 0 && !s.interrupted {
		rate = "ETA --"
	}
	interrupted := ""
	switch {
	case s.interrupted && s.final:
		interrupted = "interrupted"
	case s.interrupted:
		interrupted = "interrupted: finishing requests in flight"
	}
	nonzero := func(n int64, word string) string {
		if n == 0 {
			return ""
		}
		return fmt.Sprintf("%s %d", word, n)
	}
	pause := ""
	if s.pause != "" {
		pause = "paused: " + s.pause
	}
	// In display order.
	fields := []field{
		{fmt.Sprintf("%d/%d", s.done, s.total), 0, ""},
		{nonzero(s.created, "created"), 6, ""},
		{nonzero(s.updated, "updated"), 6, ""},
		{nonzero(s.deleted, "deleted"), 6, ""},
		{nonzero(s.failed, "failed"), 1, ""},
		{nonzero(s.skipped, "skipped"), 5, ""},
		{nonzero(s.retries, "retries"), 7, ""},
		{nonzero(s.throttled, "throttled"), 3, ""}, // a throttled run shows it whatever else
		{paceField(s), 7, ""},
		{rate, 4, ""},
		{pause, 2, "paused"},
		{interrupted, 1, "interrupted"},
	}
	limit := width - 1
	keep := make([]bool, len(fields))
	used := 0
	for prio := 0; prio <= 7; prio++ {
		for i, f := range fields {
			if f.prio != prio || f.text == "" {
				continue
			}
			sep := 0
			if used > 0 {
				sep = 2
			}
			switch {
			case used+sep+len(f.text) <= limit:
				keep[i], used = true, used+sep+len(f.text)
			case f.short != "" && used+sep+len(f.short) <= limit:
				fields[i].text = f.short
				keep[i], used = true, used+sep+len(f.short)
			case prio == 0:
				keep[i], used = true, used+sep+len(f.text) // cut below
			}
		}
	}
	var parts []string
	for i, f := range fields {
		if keep[i] {
			parts = append(parts, f.text)
		}
	}
	line := strings.Join(parts, "  ")
	// The bar takes what is left, between 10 and 30 columns, or nothing.
	if room := limit - len(line) - 3; room >= 10 && s.total > 0 {
		inner := min(room, 30)
		fill := int(int64(inner) * min(s.done+s.skipped, s.total) / s.total)
		line = "[" + strings.Repeat("=", fill) + strings.Repeat(" ", inner-fill) + "] " + line
	}
	if len(line) > limit {
		line = line[:max(limit, 0)]
	}
	return line
}

// formatRate prints a rate with one decimal below 10.
func formatRate(r float64) string {
	if r < 10 {
		return fmt.Sprintf("%.1f", r)
	}
	return fmt.Sprintf("%.0f", r)
}

// showProgress shows the run's progress until stop is closed: a bar on the
// bottom line of a terminal (bar true), redrawn five times a second, or
// elsewhere a log line every five seconds. work is the number of accounts
// that need requests.
func showProgress(ctx context.Context, env *cmdEnv, log zerolog.Logger, p *provision.Progress, work int64, bar bool, stop <-chan struct{}) (wait func()) {
	done := make(chan struct{})
	start := time.Now()
	tick := 5 * time.Second
	if bar {
		tick = 200 * time.Millisecond
	}
	lw, _ := env.stderr.(*lockedWriter)
	if lw == nil {
		bar = false
	}
	frame := func(final bool) progressState {
		return snapshot(p, work, time.Since(start), ctx.Err() != nil, final)
	}
	go func() {
		defer close(done)
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-stop:
				if bar {
					lw.endStatus(renderBar(frame(true), terminalWidth(lw)))
				}
				return
			case <-t.C:
				if bar {
					lw.setStatus(renderBar(frame(false), terminalWidth(lw)))
					continue
				}
				s := frame(false)
				ev := log.Info().Int64("done", s.done).Int64("total", s.total).
					Int64("created", s.created).Int64("updated", s.updated).Int64("deleted", s.deleted).
					Int64("failed", s.failed).Int64("skipped", s.skipped).
					Int64("retries", s.retries).Int64("throttled", s.throttled).
					Str("rate", formatRate(s.rate())+"/s")
				if f := paceField(s); f != "" {
					ev = ev.Str("pace", formatRate(s.pace)+"/s")
				}
				if s.pause != "" {
					ev = ev.Str("paused", s.pause)
				}
				if eta, ok := s.eta(); ok {
					ev = ev.Str("eta", eta.String())
				}
				if s.interrupted {
					ev = ev.Bool("interrupted", true)
				}
				ev.Msg("progress")
			}
		}
	}()
	return func() { <-done }
}
