package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hubprov/hubprov/provision/emulator"
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
			for _, line := range strings.Split(errs, "\n") {
				if strings.Count(line, "no answer within the request timeout") > 1 {
					t.Errorf("the timeout is said twice: %s", line)
				}
			}
			if n := requests.Load() - before; n != 2 {
				t.Errorf("%d requests, want 2 (--max-attempts)", n)
			}
		})
	}
}

// TestOverloadedListingSaysSo: a platform that answers every listing 503
// (overloaded, no Retry-After) until the attempts run out ends the run with
// exit 4 and the hint that it was throttled or overloaded, not that it did
// not answer.
func TestOverloadedListingSaysSo(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"message":"upstream overloaded"}`)
	}))
	t.Cleanup(srv.Close)
	ee := hostileEnv(t, srv.URL+"/elements/api-v2")
	m := ee.writeManifest(2, nil)
	code, _, errs := ee.hubprov("plan", "-f", m, "--max-attempts", "2")
	if code != exitAborted || !strings.Contains(errs, "kept answering 429 or 503 (throttled or overloaded)") {
		t.Errorf("exit %d, want 4 with the throttled-or-overloaded hint\n%s", code, errs)
	}
	if strings.Contains(errs, "did not answer in time") {
		t.Errorf("the hint says the platform did not answer, though it did\n%s", errs)
	}
	if n := requests.Load(); n != 2 {
		t.Errorf("%d requests, want 2 (--max-attempts)", n)
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

// echoingServer wraps the emulator: every create is refused with a 400 whose
// body echoes the request body back, in the encoding (i % 6) chosen by the
// account's number: raw text, JSON, JSON with "\/", JSON with upper-case
// \u003C, HTML-escaped, URL-encoded.
func echoingServer(t *testing.T) string {
	t.Helper()
	e := emulator.New(emulator.Options{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/instances") {
			e.ServeHTTP(w, r)
			return
		}
		b, _ := io.ReadAll(r.Body)
		var req struct{ Name string }
		_ = json.Unmarshal(b, &req)
		i, _ := strconv.Atoi(strings.TrimPrefix(req.Name, "echo-"))
		js, _ := json.Marshal(map[string]string{"requestId": "r1", "message": "invalid body " + string(b)})
		var body string
		switch i % 6 {
		case 0:
			body = "invalid body " + string(b)
		case 1:
			body = string(js)
		case 2:
			body = strings.ReplaceAll(string(js), "/", `\/`)
		case 3:
			body = strings.NewReplacer(`\u003c`, `\u003C`, `\u003e`, `\u003E`, `\u0026`, `\u0026`).Replace(string(js))
		case 4:
			body = "<html><body><pre>" + html.EscapeString(string(b)) + "</pre></body></html>"
		case 5:
			body = "bad request: " + url.QueryEscape(string(b))
		}
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + emulator.CloudElementsPrefix
}

// TestEchoedSecretsAppearNowhere reproduces a secret echoed in a JSON error
// body with "/" escaped as "\/", or HTML-escaped, passing the scrubber into
// stderr, logs and JUnit: secrets with characters that every encoding
// changes, echoed in each encoding, appear in no output, log, JUnit or
// journal, nor in the report (which holds instance tokens only).
func TestEchoedSecretsAppearNowhere(t *testing.T) {
	demoCredentials(t)
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "version: 1\nset: echo\ntarget:\n  platform: cloud-elements\n  baseURL: %s\n", echoingServer(t))
	b.WriteString("  credentials:\n    user: {env: HUBPROV_TEST_USER}\n    organization: {env: HUBPROV_TEST_ORG}\naccounts:\n")
	for i := range 12 {
		fmt.Fprintf(&b, "  - name: echo-%d\n    element: hubspot\n    auth: {type: apiKey, apiKey: 'Zq9w/a<b>&c\"d+e %%x-%d'}\n", i, i)
	}
	m := filepath.Join(dir, "m.yaml")
	if err := os.WriteFile(m, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	report, junit := filepath.Join(dir, "r.json"), filepath.Join(dir, "j.xml")
	var outputs []string
	for _, format := range []string{"json", "console"} {
		code, out, errs := runCLI(t, "apply", "-f", m, "--report", report, "--junit", junit, "--max-attempts", "1", "--log-level", "debug", "--log-format", format)
		if code != exitFailures || !strings.Contains(errs, "[redacted]") {
			t.Fatalf("exit %d, want 1 with the echoes redacted\n%s", code, errs)
		}
		outputs = append(outputs, out+errs)
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, f := range files {
			if f != m {
				data, _ := os.ReadFile(f)
				outputs = append(outputs, f+"\n"+string(data))
			}
		}
	}
	for _, o := range outputs {
		if strings.Contains(o, "Zq9w") {
			i := strings.Index(o, "Zq9w")
			t.Errorf("a secret shows through: ...%s...", o[max(0, i-80):min(len(o), i+80)])
		}
	}
}

// zeros is an endless reader of 'a'.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

// TestHundredMegabyteAnswer reproduces a 100 MB response that cost about
// 730 MB for 5 accounts: every update answered with 100 MB fails with a clear
// "response too large", and the run allocates a small multiple of the 8 MiB
// cap per account, not of the answer.
func TestHundredMegabyteAnswer(t *testing.T) {
	demoCredentials(t)
	e := emulator.New(emulator.Options{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPatch {
			e.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"name":"`)
		_, _ = io.Copy(w, io.LimitReader(zeros{}, 100<<20))
	}))
	t.Cleanup(srv.Close)
	ee := hostileEnv(t, srv.URL+emulator.CloudElementsPrefix)
	m := ee.writeManifest(5, nil)
	report := filepath.Join(ee.dir, "r.json")
	if code, _, errs := ee.hubprov("apply", "-f", m, "--report", report); code != exitOK {
		t.Fatalf("first apply: exit %d\n%s", code, errs)
	}
	ee.writeManifest(5, func(i int, a string) string { return a + "    tags: [retagged]\n" })
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	code, _, errs := ee.hubprov("apply", "-f", m, "--report", report, "--max-attempts", "1")
	runtime.ReadMemStats(&m1)
	if code != exitFailures {
		t.Fatalf("exit %d, want 1\n%s", code, errs)
	}
	rep := readReport(t, report)
	if rep.Summary.Failed != 5 {
		t.Fatalf("summary %+v, want 5 failed", rep.Summary)
	}
	for _, a := range rep.Accounts {
		if a.Error == nil || !strings.Contains(a.Error.Message, "response too large") {
			t.Errorf("%s: %+v, want response too large", a.Name, a.Error)
		}
	}
	if alloc := m1.TotalAlloc - m0.TotalAlloc; alloc > 5*3*8<<20+64<<20 {
		t.Errorf("the run allocated %d MiB for five 100 MB answers", alloc>>20)
	}
}

// watchHeap samples the heap in use until the returned function is called,
// which returns the largest sample.
func watchHeap(t *testing.T) func() uint64 {
	t.Helper()
	var peak atomic.Uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-stopped
		return peak.Load()
	}
}

// endlessListServer answers every list page with `size` fresh instances and
// a fresh next-page token, for ever; with total >= 0 it announces that total.
// With fatKB > 0 each instance carries a configuration value of that many KiB.
func endlessListServer(t *testing.T, size, total, fatKB int) (string, *atomic.Int64) {
	t.Helper()
	pages := new(atomic.Int64)
	fat := strings.Repeat("a", fatKB<<10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := pages.Add(1)
		var items []string
		for i := range size {
			items = append(items, fmt.Sprintf(`{"id":%d,"name":"p-%d-%d","element":{"key":"hubspot"},"tags":["hubprov:set=acme"],"valid":true,"configuration":{"event.poller.urls":"%s%d"}}`, n*1000+int64(i), n, i, fat, i))
		}
		w.Header().Set("Elements-Next-Page-Token", fmt.Sprintf("page-%d", n))
		if total >= 0 {
			w.Header().Set("Elements-Total-Count", strconv.Itoa(total))
		}
		_, _ = io.WriteString(w, "["+strings.Join(items, ",")+"]")
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/elements/api-v2", pages
}

// TestEndlessPagination reproduces a listing that ran 11,017 pages in 40 s
// (825 MB and climbing), and one of fat pages (200 instances of 30 KB, each
// page under the response cap) that grew 10 MB a page to 870 MB after 92
// pages: a fresh page token every time ends in an error, exit 4, after the
// pages the announced total allows, or at the page, instance or size ceiling
// when the platform announces none, with the memory held bounded.
func TestEndlessPagination(t *testing.T) {
	for _, tc := range []struct {
		name               string
		size, total, fatKB int
		maxPagesFetched    int64
		maxAlloc, maxHeap  uint64 // bytes allocated in all, and held at once
	}{
		{"a total of 5", 2, 5, 0, 4, 256 << 20, 256 << 20},
		{"no total", 1, -1, 0, 1500, 256 << 20, 256 << 20},
		// The listing keeps up to 256 MiB of instances (43 such pages); the
		// heap holds about twice what is live between collections.
		{"fat pages", 200, -1, 30, 50, 4 << 30, 640 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, pages := endlessListServer(t, tc.size, tc.total, tc.fatKB)
			ee := hostileEnv(t, base)
			m := ee.writeManifest(2, nil)
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			peak := watchHeap(t)
			code, _, errs := ee.hubprov("plan", "-f", m)
			runtime.ReadMemStats(&m1)
			if alloc := m1.TotalAlloc - m0.TotalAlloc; alloc > tc.maxAlloc {
				t.Errorf("the listing allocated %d MiB", alloc>>20)
			}
			if heap := peak(); heap > m0.HeapAlloc+tc.maxHeap {
				t.Errorf("the listing held %d MiB at once", (heap-m0.HeapAlloc)>>20)
			}
			if code != exitAborted || !strings.Contains(errs, "the listing does not end") {
				t.Fatalf("exit %d, want 4 with the listing stopped\n%s", code, errs)
			}
			if n := pages.Load(); n > tc.maxPagesFetched {
				t.Errorf("%d pages fetched, want at most %d", n, tc.maxPagesFetched)
			}
		})
	}
}
