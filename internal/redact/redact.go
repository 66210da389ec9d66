// Package redact removes secret values from text bound for a terminal, a log
// or a file, in every form an echo of a secret can take: raw, JSON-escaped
// (also with "/" written "\/", and <, >, & written \u003c, \u003e, \u0026),
// HTML-escaped, and URL-encoded (query and path escaping, either hex case).
package redact

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
)

// Mark is what every form of a secret is replaced with.
const Mark = "[redacted]"

// Forms returns the distinct forms v can take when a platform or a proxy
// echoes it, v itself first: raw or JSON-escaped, and either of those
// HTML-escaped or URL-encoded (a platform that echoes a JSON request body into
// an HTML or URL-encoded error page encodes the secret twice).
func Forms(v string) []string {
	if v == "" {
		return nil
	}
	if plain(v) {
		return []string{v} // every encoding leaves it as it is
	}
	var out []string
	seen := map[string]bool{}
	add := func(f string) {
		if f != "" && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	add(v)
	for _, f := range jsonForms(v) {
		add(f)
		add(strings.ReplaceAll(f, "/", `\/`))
	}
	inner := slices.Clone(out)
	for _, f := range inner {
		for _, u := range []string{url.QueryEscape(f), url.PathEscape(f), strings.ReplaceAll(url.QueryEscape(f), "+", "%20")} {
			add(u)
			add(lowerHex(u))
		}
		for _, h := range htmlForms(f) {
			add(h)
		}
	}
	return out
}

// plain reports whether every encoding leaves v unchanged: letters, digits
// and - _ . ~ only.
func plain(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~') {
			return false
		}
	}
	return true
}

var htmlBase = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// htmlForms returns v HTML-escaped: & < > always; quotes as each common
// encoder writes them (Go &#34; &#39;, Python &quot; &#x27;, PHP &quot;
// &#039;, or left alone); "/" as is or as &#x2F;.
func htmlForms(v string) []string {
	if !strings.ContainsAny(v, `&<>"'/`) {
		return []string{v}
	}
	base := htmlBase.Replace(v)
	dqs, sqs := []string{`"`}, []string{"'"}
	if strings.Contains(v, `"`) {
		dqs = []string{"&#34;", "&quot;", `"`}
	}
	if strings.Contains(v, "'") {
		sqs = []string{"&#39;", "&#x27;", "&#039;", "&apos;", "'"}
	}
	var out []string
	for _, dq := range dqs {
		for _, sq := range sqs {
			h := base
			if dq != `"` {
				h = strings.ReplaceAll(h, `"`, dq)
			}
			if sq != "'" {
				h = strings.ReplaceAll(h, "'", sq)
			}
			out = append(out, h)
			if strings.Contains(h, "/") {
				out = append(out, strings.ReplaceAll(h, "/", "&#x2F;"))
			}
		}
	}
	return out
}

// jsonForms returns v inside a JSON string, as encoding/json writes it with
// and without HTML escaping, and with upper-case hex escapes as other
// encoders write them.
func jsonForms(v string) []string {
	if !needsJSONEscape(v) {
		return []string{v}
	}
	var out []string
	for _, escapeHTML := range []bool{true, false} {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(escapeHTML)
		if enc.Encode(v) != nil {
			continue
		}
		s := strings.TrimSuffix(b.String(), "\n")
		s = s[1 : len(s)-1]
		out = append(out, s, upperUnicode(s))
	}
	return out
}

// needsJSONEscape reports whether encoding/json writes v other than as is.
func needsJSONEscape(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return true
		}
	}
	return false
}

// upperUnicode writes the hex digits of \uXXXX escapes in upper case.
func upperUnicode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+6 <= len(s) && s[i+1] == 'u' {
			b.WriteString(`\u` + strings.ToUpper(s[i+2:i+6]))
			i += 5
			continue
		}
		if s[i] == '\\' && i+1 < len(s) {
			b.WriteString(s[i : i+2])
			i++
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// lowerHex writes the hex digits of %XX escapes in lower case.
func lowerHex(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+3 <= len(s) {
			b.WriteByte('%')
			b.WriteString(strings.ToLower(s[i+1 : i+3]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// NewReplacer returns a replacer of every form of every value with Mark,
// longer forms first so that a secret containing another is replaced whole.
// Values shorter than minLen bytes are left out (0 keeps every one).
func NewReplacer(values []string, minLen int) *strings.Replacer {
	var forms []string
	seen := map[string]bool{}
	for _, v := range values {
		if len(v) < minLen {
			continue
		}
		for _, f := range Forms(v) {
			if !seen[f] {
				seen[f] = true
				forms = append(forms, f)
			}
		}
	}
	slices.SortFunc(forms, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(forms))
	for _, f := range forms {
		pairs = append(pairs, f, Mark)
	}
	return strings.NewReplacer(pairs...)
}

// String returns s with every form of every secret replaced by Mark.
func String(s string, secrets []string) string {
	return NewReplacer(secrets, 1).Replace(s)
}
