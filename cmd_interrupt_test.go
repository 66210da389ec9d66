package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hubprov/hubprov/provision"
	"github.com/hubprov/hubprov/provision/emulator"
)

// hangingCreates serves the emulator, except that a create waits until
// release is closed (then it is served) or the client gives up on it.
// started receives one value per create that arrived.
func hangingCreates(t *testing.T, release <-chan struct{}) (baseURL string, started <-chan struct{}) {
	t.Helper()
	e := emulator.New(emulator.Options{User: "demo-user", Organization: "demo-org"})
	ch := make(chan struct{}, 1000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/instances") {
			body, _ := io.ReadAll(r.Body) // read, so the server notices the client going away
			r.Body = io.NopCloser(bytes.NewReader(body))
			ch <- struct{}{}
			select {
			case <-r.Context().Done():
				return
			case <-release:
			}
		}
		e.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + emulator.CloudElementsPrefix, ch
}

// TestSecondInterruptCancelsRequestsInFlight: after the first SIGINT the run
// waits for the requests in flight; the second cancels them. The run exits
// 130 with the report written: every account skipped as interrupted, none
// failed, and no Go error chain in the report or on stderr.
func TestSecondInterruptCancelsRequestsInFlight(t *testing.T) {
	demoCredentials(t)
	base, started := hangingCreates(t, nil)
	ee := &engineEnv{t: t, ceURL: base, dir: t.TempDir()}
	m := ee.writeManifest(20, nil)
	report := filepath.Join(ee.dir, "report.json")

	abandon, abandonNow := context.WithCancel(context.Background())
	ctx, interrupt := context.WithCancelCause(withAbandon(context.Background(), abandon))
	var stdout, stderr bytes.Buffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"apply", "-f", m, "--report", report, "--parallelism", "4", "--no-progress"}, strings.NewReader(""), &stdout, &stderr)
	}()
	for range 4 {
		<-started // four creates hang in flight
	}
	interrupt(signalError{syscall.SIGINT})
	abandonNow()
	code := <-done
	if code != exitSIGINT {
		t.Fatalf("exit %d, want 130\n%s", code, stderr.String())
	}
	errs := stderr.String()
	for _, want := range []string{"interrupted (SIGINT): no new requests", "interrupted again: stopping now", "hint: rerun the same command to finish"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	for _, raw := range []string{"context canceled", "dial tcp"} {
		if strings.Contains(errs, raw) {
			t.Errorf("stderr has a Go error chain %q:\n%s", raw, errs)
		}
	}
	rep := readReport(t, report)
	if rep.Summary.Failed != 0 || rep.Summary.Skipped != 20 {
		t.Fatalf("summary %+v, want 20 skipped, none failed", rep.Summary)
	}
	for _, a := range rep.Accounts {
		if a.Status != provision.Skipped || a.Reason != provision.ReasonInterrupted || a.Error != nil {
			t.Errorf("%s: %s (%q), error %+v", a.Name, a.Status, a.Reason, a.Error)
		}
	}
}

// TestSIGINTExits130 interrupts a run once: the creates in flight finish and
// are in the report, the rest are skipped as interrupted, and the exit code
// is 130.
func TestSIGINTExits130(t *testing.T) {
	demoCredentials(t)
	release := make(chan struct{})
	base, started := hangingCreates(t, release)
	ee := &engineEnv{t: t, ceURL: base, dir: t.TempDir()}
	m := ee.writeManifest(10, nil)
	report := filepath.Join(ee.dir, "report.json")
	ctx, interrupt := context.WithCancelCause(context.Background())
	var stdout, stderr bytes.Buffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"apply", "-f", m, "--report", report, "--parallelism", "2", "--no-progress"}, strings.NewReader(""), &stdout, &stderr)
	}()
	<-started
	<-started
	interrupt(signalError{syscall.SIGINT})
	close(release) // the two creates in flight now answer
	if code := <-done; code != exitSIGINT {
		t.Fatalf("exit %d, want 130\n%s", code, stderr.String())
	}
	rep := readReport(t, report)
	if rep.Summary.Created != 2 || rep.Summary.Failed != 0 || rep.Summary.Skipped != 8 {
		t.Fatalf("summary %+v, want 2 created and 8 skipped", rep.Summary)
	}
	if !strings.Contains(stderr.String(), "hint: rerun the same command to finish") {
		t.Errorf("no hint:\n%s", stderr.String())
	}
}
