package redact

import (
	"encoding/json"
	"html"
	"net/url"
	"strings"
	"testing"
)

// echoes returns secret the ways a careless platform or proxy echoes it.
func echoes(secret string) map[string]string {
	js, _ := json.Marshal(map[string]string{"m": "bad key " + secret})
	var noHTML strings.Builder
	enc := json.NewEncoder(&noHTML)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(map[string]string{"m": secret})
	return map[string]string{
		"raw":             "bad key " + secret,
		"json":            string(js),
		"json no html":    noHTML.String(),
		"json \\/":        strings.ReplaceAll(string(js), "/", `\/`),
		"json \\u003C":    strings.NewReplacer(`\u003c`, `\u003C`, `\u003e`, `\u003E`).Replace(string(js)),
		"html":            "<p>" + html.EscapeString(secret) + "</p>",
		"html &quot;":     strings.ReplaceAll(html.EscapeString(secret), "&#34;", "&quot;"),
		"query":           "?apiSecret=" + url.QueryEscape(secret),
		"query lower hex": "?apiSecret=" + strings.ToLower(url.QueryEscape(secret)),
		"path":            "/x/" + url.PathEscape(secret),
		"query %20":       strings.ReplaceAll(url.QueryEscape(secret), "+", "%20"),
	}
}

func TestStringRemovesEveryForm(t *testing.T) {
	secrets := []string{`s3cr/t+<x>&"y' z`, "plain-token-0123", "a/b/c"}
	for _, secret := range secrets {
		for form, text := range echoes(secret) {
			got := String(text, secrets)
			if !strings.Contains(got, Mark) {
				t.Errorf("%q, %s: %q has no mark", secret, form, got)
			}
			for _, f := range Forms(secret) {
				if len(f) > 3 && strings.Contains(got, f) {
					t.Errorf("%q, %s: %q still holds %q", secret, form, got, f)
				}
			}
			if strings.Contains(got, "s3cr") || strings.Contains(got, "plain-token") {
				t.Errorf("%q, %s: %q leaks a part", secret, form, got)
			}
		}
	}
}

func TestLongerSecretReplacedWhole(t *testing.T) {
	got := String("key abcdef-ghijkl end", []string{"abcdef", "abcdef-ghijkl"})
	if got != "key "+Mark+" end" {
		t.Errorf("got %q", got)
	}
}

func TestNewReplacerMinLen(t *testing.T) {
	r := NewReplacer([]string{"ab", "abcd"}, 4)
	if got := r.Replace("ab abcd"); got != "ab "+Mark {
		t.Errorf("got %q", got)
	}
}
