package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
)

// signalError is the cause of a context cancelled by SIGINT or SIGTERM; a
// command stopped by one exits 128 + the signal's number (130, 143), the
// shell's convention, so that a Kubernetes podFailurePolicy tells an
// interrupted run (safe to rerun) from an aborted one (exit 4).
type signalError struct{ sig syscall.Signal }

func (e signalError) Error() string {
	if e.sig == syscall.SIGTERM {
		return "interrupted (SIGTERM)"
	}
	return "interrupted (SIGINT)"
}

// interrupts returns a context cancelled at the first SIGINT or SIGTERM,
// its cause a signalError, which carries a second context, cancelled at the
// second signal: the one that abandons requests in flight.
func interrupts() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	abandon, abandonNow := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		n := 0
		for {
			select {
			case s := <-ch:
				n++
				if n == 1 {
					sig, _ := s.(syscall.Signal)
					cancel(signalError{sig})
				} else {
					abandonNow()
				}
			case <-done:
				return
			}
		}
	}()
	return withAbandon(ctx, abandon), func() {
		signal.Stop(ch)
		close(done)
		cancel(nil)
		abandonNow()
	}
}

type abandonKey struct{}

// withAbandon attaches to ctx the context whose end cancels requests in flight.
func withAbandon(ctx, abandon context.Context) context.Context {
	return context.WithValue(ctx, abandonKey{}, abandon)
}

// abandonOf is the context attached by withAbandon, or nil.
func abandonOf(ctx context.Context) context.Context {
	a, _ := ctx.Value(abandonKey{}).(context.Context)
	return a
}

// errInterrupted is the error of a command stopped by an interrupt, exiting
// 130 or 143 (4 when ctx was cancelled without a signal).
func errInterrupted(ctx context.Context) *cliError {
	e := abortedf("interrupted")
	var se signalError
	if errors.As(context.Cause(ctx), &se) {
		e = newCLIError(128+int(se.sig), se)
	}
	return e
}

// noteInterrupts acknowledges the interrupts of a run on stderr: the first
// lets requests in flight finish, the second cancels them. The returned
// function stops listening.
func noteInterrupts(ctx context.Context, env *cmdEnv) func() {
	stop1 := context.AfterFunc(ctx, func() {
		if se := (signalError{}); errors.As(context.Cause(ctx), &se) {
			again := "press Ctrl-C again to stop at once"
			if se.sig == syscall.SIGTERM {
				again = "a second signal stops at once"
			}
			env.log.Warn().Msg(se.Error() + ": no new requests; finishing those in flight, then writing the report (" + again + ")")
		}
	})
	stop2 := func() bool { return false }
	if a := abandonOf(ctx); a != nil {
		stop2 = context.AfterFunc(a, func() {
			if ctx.Err() != nil {
				env.log.Warn().Msg("interrupted again: stopping now, cancelling the requests in flight (the journal lets the rerun find what they created)")
			}
		})
	}
	return func() { stop1(); stop2() }
}
