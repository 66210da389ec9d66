package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hubprov/hubprov/provision/emulator"
)

// TestEmulateServesSeeds starts `hubprov emulate` on port 0, reads the printed
// URLs and sends every seed request over real TCP.
func TestEmulateServesSeeds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	outR, outW := io.Pipe()
	var stderr strings.Builder
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"emulate", "--addr", "127.0.0.1:0", "--user", "u", "--organization", "o", "--seed", "3"},
			strings.NewReader(""), outW, &stderr)
		outW.Close()
	}()
	urls := map[string]string{}
	sc := bufio.NewScanner(outR)
	var printed []string
	for sc.Scan() && len(urls) < 4 {
		line := sc.Text()
		printed = append(printed, line)
		for _, k := range []string{"Cloud Elements", "Open Connectors", "Flow Service", "Stats"} {
			if v, ok := strings.CutPrefix(line, k+":"); ok {
				urls[k] = strings.TrimSpace(v)
			}
		}
	}
	go func() { _, _ = io.Copy(io.Discard, outR) }()
	if len(urls) != 4 {
		cancel()
		t.Fatalf("printed %q", printed)
	}
	if !strings.HasPrefix(urls["Cloud Elements"], "http://127.0.0.1:") || !strings.HasSuffix(urls["Cloud Elements"], "/elements/api-v2") ||
		!strings.HasSuffix(urls["Flow Service"], "/data/foundation/flowservice") {
		t.Errorf("urls %v", urls)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	send := func(method, url string, h map[string]string, body string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range h {
			req.Header.Set(k, v)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	ce := map[string]string{"Authorization": "User u, Organization o", "Content-Type": "application/json"}
	flow := map[string]string{"Authorization": "Bearer demo-token", "x-api-key": "demo-key", "x-gw-ims-org-id": "demo@AdobeOrg",
		"x-sandbox-name": "prod", "Content-Type": "application/json"}
	files, _ := filepath.Glob("testdata/seeds/*.json")
	if len(files) == 0 {
		t.Fatal("no seed bodies")
	}
	creates := 0
	codes := map[string]bool{}
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.Contains(f, "-flow-"):
			if st, b := send("POST", urls["Flow Service"]+"/connections", flow, string(body)); st != 201 {
				t.Errorf("%s: %d %s", f, st, b)
			}
			creates++
		case strings.Contains(f, "your_mom"):
			if st, b := send("POST", urls["Open Connectors"]+"/instances", ce, string(body)); st != 400 {
				t.Errorf("%s: %d %s", f, st, b)
			}
		default:
			st, b := send("POST", urls["Cloud Elements"]+"/instances", ce, string(body))
			var sent struct {
				ProviderData struct{ Code string } `json:"providerData"`
			}
			_ = json.Unmarshal(body, &sent)
			if c := sent.ProviderData.Code; c != "" && codes[c] {
				// Seeds share codes, and a code is single-use: the platform refuses the second.
				if st != 400 || !strings.Contains(string(b), "BAD_AUTH_CODE") {
					t.Errorf("%s: a used code: %d %s, want 400 BAD_AUTH_CODE", f, st, b)
				}
				continue
			} else if c != "" {
				codes[c] = true
			}
			var m map[string]any
			if st != 200 || json.Unmarshal(b, &m) != nil || m["token"] == nil {
				t.Errorf("%s: %d %s", f, st, b)
			}
			creates++
		}
	}
	if st, _ := send("GET", urls["Cloud Elements"]+"/instances", map[string]string{"Authorization": "User demo-user, Organization demo-org"}, ""); st != 401 {
		t.Errorf("demo credentials accepted after --user u: %d", st)
	}
	st, b := send("GET", urls["Stats"], nil, "")
	var stats struct{ Creates, Instances int }
	if st != 200 || json.Unmarshal(b, &stats) != nil || stats.Creates != creates || stats.Instances != creates {
		t.Errorf("stats %d %s, want %d creates", st, b, creates)
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit %d, stderr %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("emulate did not stop on cancel")
	}
}

func TestEmulateFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--addr", "0.0.0.0:0"}, exitInvalid, "--allow-remote"},
		{[]string{"--addr", ":0"}, exitInvalid, "not a loopback"},
		{[]string{"--addr", "nonsense"}, exitInvalid, "--addr"},
		{[]string{"--rate-limit", "x/10s"}, exitInvalid, "N/D"},
		{[]string{"--rate-limit", "100/zz"}, exitInvalid, "N/D"},
		{[]string{"--rolling"}, exitInvalid, "give it too"},
		{[]string{"--no-retry-after"}, exitInvalid, "give it too"},
		{[]string{"--rate-limit", "100/10s", "--window", "--rolling"}, exitInvalid, "give one"},
		{[]string{"--rate-limit", "100/10s", "--rolling", "--burst", "5"}, exitInvalid, "a window has none"},
		{[]string{"--fail-rate", "1.5"}, exitInvalid, "out of [0, 1]"},
		{[]string{"--fail-rate", "0.6", "--reset-rate", "0.6"}, exitInvalid, "sum"},
		{[]string{"--fault", "create:boom=0.1"}, exitInvalid, "unknown kind"},
		{[]string{"--fault", "make:lost=0.1"}, exitInvalid, "unknown operation"},
		{[]string{"--fault", "create-lost"}, exitInvalid, "malformed"},
		{[]string{"--help"}, exitOK, ""},
		{[]string{"extra"}, exitInvalid, "unexpected argument"},
	} {
		var out, errb strings.Builder
		code := run(context.Background(), append([]string{"emulate"}, tc.args...), strings.NewReader(""), &out, &errb)
		if code != tc.code || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, errb.String(), tc.code, tc.want)
		}
		if tc.args[0] == "--help" && !strings.Contains(out.String(), "-rate-limit N/D") {
			t.Errorf("--help: %q", out.String())
		}
	}
	n, per, err := parseRateLimit("100/10s")
	if n != 100 || per != 10*time.Second || err != nil {
		t.Errorf("100/10s: %d %v %v", n, per, err)
	}
	if n, per, _ := parseRateLimit("5/s"); n != 5 || per != time.Second {
		t.Errorf("5/s: %d %v", n, per)
	}
	op, f, err := parseOpFault("create:lost=0.25", emulator.Faults{Rate503: 0.1}, nil)
	if op != "create" || f.LostResponse != 0.25 || f.Rate503 != 0.1 || err != nil {
		t.Errorf("op fault: %v %+v %v", op, f, err)
	}
}
