package main

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// hangingServer is a platform that accepts every request and never answers.
// It counts the requests it received and signals the first on started.
func hangingServer(t *testing.T) (baseURL string, requests *atomic.Int64, started <-chan struct{}) {
	t.Helper()
	requests = new(atomic.Int64)
	first := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 1 {
			close(first)
		}
		<-r.Context().Done() // until the client gives up
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/elements/api-v2", requests, first
}

// hostileEnv is an engineEnv whose manifest targets baseURL instead of the emulator.
func hostileEnv(t *testing.T, baseURL string) *engineEnv {
	demoCredentials(t)
	return &engineEnv{t: t, ceURL: baseURL, dir: t.TempDir()}
}

// TestServerThatNeverAnswers reproduces plan, apply and destroy hanging for
// good on a platform that never answers (the listing ignored
// --request-timeout): each ends after --max-attempts attempts of
// --request-timeout, exit 4, with a clear error, every attempt counted.
func TestServerThatNeverAnswers(t *testing.T) {
	base, requests, _ := hangingServer(t)
	ee := hostileEnv(t, base)
	m := ee.writeManifest(3, nil)
	for _, args := range [][]string{
		{"plan", "-f", m},
		{"apply", "-f", m, "--report", filepath.Join(ee.dir, "r.json")},
		{"destroy", "-f", m, "--report", filepath.Join(ee.dir, "r.json")},
	} {
		t.Run(args[0], func(t *testing.T) {
			before := requests.Load()
			code, _, errs := ee.hubprov(append(args, "--request-timeout", "150ms", "--max-attempts", "2")...)
			if code != exitAborted || !strings.Contains(errs, "no answer within the request timeout (150ms)") || !strings.Contains(errs, "nothing was changed") {
				t.Errorf("exit %d, want 4 with the timeout named\n%s", code, errs)
			}
			if n := requests.Load() - before; n != 2 {
				t.Errorf("%d requests, want 2 (--max-attempts)", n)
			}
		})
	}
}

// TestSIGTERMDuringAHangingList reproduces a plan that ignored SIGTERM while
// its listing hung (597 s until SIGKILL): the run ends within 2 s of the
// signal, long before the default 60 s request timeout.
func TestSIGTERMDuringAHangingList(t *testing.T) {
	bin := buildBinary(t)
	for _, command := range []string{"plan", "apply"} {
		t.Run(command, func(t *testing.T) {
			base, _, started := hangingServer(t)
			ee := hostileEnv(t, base)
			m := ee.writeManifest(3, nil)
			cmd := exec.Command(bin, command, "-f", m, "--report", filepath.Join(ee.dir, "r.json"))
			if command == "plan" {
				cmd = exec.Command(bin, command, "-f", m)
			}
			cmd.Env = append(os.Environ(), "HUBPROV_TEST_USER=demo-user", "HUBPROV_TEST_ORG=demo-org")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			<-started
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				var xe *exec.ExitError
				if !errors.As(err, &xe) || (xe.ExitCode() != exitAborted && xe.ExitCode() != 143) {
					t.Errorf("after SIGTERM: %v, want exit 4 or 143\n%s", err, stderr.String())
				}
			case <-time.After(2 * time.Second):
				_ = cmd.Process.Kill()
				<-done
				t.Fatalf("%s still running 2 s after SIGTERM\n%s", command, stderr.String())
			}
		})
	}
}
