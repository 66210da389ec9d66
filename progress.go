package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/hubprov/hubprov/provision"
)

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
