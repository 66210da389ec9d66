package manifest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubprov/hubprov/schema"
	"gopkg.in/yaml.v3"
)

// genManifest writes a valid cloud-elements manifest of n accounts (about 420
// bytes each: both elements, all three auth types, tags, configuration) to dir.
func genManifest(tb testing.TB, dir string, n int) string {
	tb.Helper()
	var b strings.Builder
	b.WriteString(`# yaml-language-server: $schema=../schema/manifest.schema.json
version: 1
set: bench
target:
  platform: cloud-elements
  credentials:
    user: {env: CE_USER}
    organization: {env: CE_ORG}
defaults:
  tags: [bench]
  configuration:
    filter.response.nulls: true
accounts:
`)
	for i := range n {
		el := "hubspotcrm"
		if i%3 == 0 {
			el = "hubspot"
		}
		fmt.Fprintf(&b, "  - name: portal-%07d\n    element: %s\n    auth:\n", i, el)
		switch i % 4 {
		case 0, 1:
			fmt.Fprintf(&b, "      type: oauth2Tokens\n      clientId: 6a1f0c9e-0000-4000-8000-%012d\n      clientSecret: {env: HUBSPOT_APP_SECRET}\n      callbackURL: https://app.example.com/auth\n      accessToken: {file: secrets/p%d.access}\n      refreshToken: {file: secrets/p%d.refresh}\n      expiresIn: 1800\n", i, i, i)
		case 2:
			fmt.Fprintf(&b, "      type: oauth2\n      clientId: 6a1f0c9e-0000-4000-8000-%012d\n      clientSecret: {env: HUBSPOT_APP_SECRET}\n      callbackURL: https://app.example.com/auth\n      scopes: [crm.objects.contacts.read, oauth]\n      code: {env: CODE_%d}\n", i, i)
		default:
			fmt.Fprintf(&b, "      type: oauth2\n      clientId: 6a1f0c9e-0000-4000-8000-%012d\n      clientSecret: {env: HUBSPOT_APP_SECRET}\n      callbackURL: https://app.example.com/auth\n      scopes: [crm.objects.deals.read, oauth]\n", i)
		}
		fmt.Fprintf(&b, "    tags: [tier-%d, wave-%d]\n    configuration:\n      event.notification.enabled: %t\n      create.bulk.properties: false\n", i%5, i%7, i%2 == 0)
	}
	path := filepath.Join(dir, fmt.Sprintf("m%d.yaml", n))
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// straightforward is the reference pipeline: decode the whole file into any
// with yaml.Unmarshal and validate it with one jsonschema v5 call.
func straightforward(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		return err
	}
	vs, err := schema.Validate(v)
	if err != nil {
		return err
	}
	if len(vs) > 0 {
		return fmt.Errorf("%d violations", len(vs))
	}
	return nil
}

func ours(path string) error {
	m, probs := Load([]string{path})
	if m == nil {
		return fmt.Errorf("%d problems, first %v", len(probs), probs[0])
	}
	if len(probs) > 0 {
		return fmt.Errorf("unexpected %v", probs[0])
	}
	return nil
}

var pipelines = map[string]func(string) error{"straightforward": straightforward, "load": ours}

// peakHeap samples the heap (live and not yet swept objects) every 5 ms while f runs.
func peakHeap(f func()) uint64 {
	runtime.GC()
	debug.FreeOSMemory()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak uint64
	var mu sync.Mutex
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			mu.Lock()
			peak = max(peak, s[0].Value.Uint64())
			mu.Unlock()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	f()
	close(done)
	<-stopped
	return peak
}

// BenchmarkValidate compares Load with the straightforward pipeline on the same
// generated 100,000-account manifest (set HUBPROV_BENCH_ACCOUNTS to change it).
// Reported per pipeline: ns/op, peak-heap-MiB (sampled in process) and
// maxrss-MiB (a fresh child process running the pipeline once).
func BenchmarkValidate(b *testing.B) {
	n := 100_000
	if s := os.Getenv("HUBPROV_BENCH_ACCOUNTS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	path := genManifest(b, b.TempDir(), n)
	for _, name := range []string{"straightforward", "load"} {
		b.Run(name, func(b *testing.B) {
			run := pipelines[name]
			var peak uint64
			b.ResetTimer()
			for range b.N {
				var err error
				p := peakHeap(func() { err = run(path) })
				if err != nil {
					b.Fatal(err)
				}
				peak = max(peak, p)
			}
			b.StopTimer()
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(childMaxRSS(b, name, path))/(1<<10), "maxrss-MiB")
			b.ReportMetric(float64(n), "accounts")
		})
	}
}

// childMaxRSS runs one pipeline once in a fresh test process and returns its
// peak resident set in KiB.
func childMaxRSS(b *testing.B, pipeline, path string) int64 {
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "HUBPROV_BENCH_CHILD="+pipeline, "HUBPROV_BENCH_PATH="+path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("child: %v\n%s", err, out)
	}
	// Not the child's rusage: Linux carries the parent's high-water mark over
	// a vfork+exec. The child reports its own VmHWM instead.
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb
		}
	}
	b.Fatalf("child printed no VmHWM:\n%s", out)
	return 0
}

// TestBenchChild is the child process of childMaxRSS; it does nothing otherwise.
func TestBenchChild(t *testing.T) {
	name := os.Getenv("HUBPROV_BENCH_CHILD")
	if name == "" {
		t.Skip("only run by BenchmarkValidate")
	}
	if err := pipelines[name](os.Getenv("HUBPROV_BENCH_PATH")); err != nil {
		t.Fatal(err)
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, l := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			fmt.Println(l)
		}
	}
}
