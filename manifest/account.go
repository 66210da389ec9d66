package manifest

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/hubprov/hubprov/schema"
	"gopkg.in/yaml.v3"
)

const (
	literalHint  = "literal secrets are for demos and tests: use {env: NAME} or {file: PATH}"
	flowAuthHint = "adobe-flow accepts only oauth2Tokens auth with clientId, clientSecret, accessToken and refreshToken"
)

// marketingScopes are HubSpot Marketing scopes that a HubSpot CRM app cannot request.
var marketingScopes = map[string]bool{"content": true, "reports": true, "social": true, "automation": true, "forms": true}

// authKeys lists the keys each auth type takes.
var authKeys = map[AuthType][]string{
	AuthAPIKey:       {"type", "apiKey"},
	AuthOAuth2:       {"type", "clientId", "clientSecret", "callbackURL", "scopes", "code"},
	AuthOAuth2Tokens: {"type", "clientId", "clientSecret", "callbackURL", "accessToken", "refreshToken", "expiresIn", "scopes"},
}

// authRequired lists the keys each auth type requires, per platform kind.
func authRequired(t AuthType, p Platform) []string {
	switch t {
	case AuthAPIKey:
		return []string{"apiKey"}
	case AuthOAuth2:
		return []string{"clientId", "clientSecret", "callbackURL", "scopes"}
	case AuthOAuth2Tokens:
		if p == AdobeFlow {
			return []string{"clientId", "clientSecret", "accessToken", "refreshToken"}
		}
		return []string{"clientId", "clientSecret", "callbackURL", "accessToken", "refreshToken"}
	}
	return nil
}

// field is one key of a mapping with its converted value.
type field struct {
	file     string
	key, val *yaml.Node
	v        any
	def      bool // from defaults
}

// path names the field in messages: accounts[3].auth.k, or defaults.auth.k.
func (f field) path(ck *checker, in, k string) string {
	if f.def {
		return "defaults" + in + "." + k
	}
	return ck.path + in + "." + k
}

// fromDefaults marks every field as coming from defaults.
func fromDefaults(m map[string]field) map[string]field {
	for k, f := range m {
		f.def = true
		m[k] = f
	}
	return m
}

func (f field) ok() bool    { return f.val != nil }
func (f field) pos() Pos    { return nodePos(f.file, f.val) }
func (f field) keyPos() Pos { return nodePos(f.file, f.key) }

// fieldsOf pairs the keys of mapping n with their values in v.
func fieldsOf(file string, n *yaml.Node, v any) map[string]field {
	m, _ := v.(map[string]any)
	if n == nil || n.Kind != yaml.MappingNode || m == nil {
		return nil
	}
	out := make(map[string]field, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i].Value
		if x, ok := m[k]; ok {
			if _, dup := out[k]; !dup {
				out[k] = field{file: file, key: n.Content[i], val: n.Content[i+1], v: x}
			}
		}
	}
	return out
}

// items returns the elements of a sequence field, each as a field.
func (f field) items() []field {
	l, _ := f.v.([]any)
	if f.val == nil || f.val.Kind != yaml.SequenceNode || len(l) != len(f.val.Content) {
		return nil
	}
	out := make([]field, len(l))
	for i, x := range l {
		out[i] = field{file: f.file, key: f.key, val: f.val.Content[i], v: x, def: f.def}
	}
	return out
}

// pick returns a if given, else b.
func pick(a, b field) field {
	if a.ok() {
		return a
	}
	return b
}

// concat joins two lists of strings, b after a, without duplicates.
func concat(a, b []field) []field {
	var out []field
	seen := map[string]bool{}
	for _, l := range [][]field{a, b} {
		for _, f := range l {
			s, _ := f.v.(string)
			if !seen[s] {
				seen[s] = true
				out = append(out, f)
			}
		}
	}
	return out
}

// account loads the account at index idx of file from its node n into a:
// convert, validate against $defs/account, merge defaults, check, decode. It
// reports whether a holds a valid account.
func (r *run) account(a *Account, file string, idx int, n *yaml.Node) ([]Problem, bool) {
	probs, ok := r.loadAccount(a, file, idx, n)
	name := a.Name
	if name == "" {
		// The account did not load: its name, if it has one, from the YAML.
		if m := mappingOf(n); m != nil {
			if nv := findVal(m, "name"); nv != nil && nv.Kind == yaml.ScalarNode {
				name = nv.Value
			}
		}
	}
	nameAccount(probs, idx, name)
	return probs, ok
}

// nameAccount makes the problems of account idx name it: "accounts[3]
// (acme-crm) auth.type: ..." rather than "accounts[3].auth.type: ...".
func nameAccount(probs []Problem, idx int, name string) {
	if name == "" || len(name) > 80 || strings.ContainsAny(name, "\n\r") {
		return
	}
	at := "accounts[" + strconv.Itoa(idx) + "]"
	for i := range probs {
		rest, ok := strings.CutPrefix(probs[i].Message, at)
		switch {
		case !ok:
		case strings.HasPrefix(rest, "."):
			probs[i].Message = at + " (" + name + ") " + rest[1:]
		case strings.HasPrefix(rest, ":") || strings.HasPrefix(rest, "["):
			probs[i].Message = at + " (" + name + ")" + rest
		}
	}
}

// loadAccount is account without naming it in its problems.
func (r *run) loadAccount(a *Account, file string, idx int, n *yaml.Node) ([]Problem, bool) {
	c := &converter{file: file}
	v := c.value(n, 1)
	if len(c.probs) > 0 {
		return c.probs, false
	}
	prefix := []string{"accounts", strconv.Itoa(idx)}
	vs, err := schema.ValidateDef("account", v)
	if err != nil {
		return []Problem{{Pos: nodePos(file, n), Severity: Error, Message: "internal: " + err.Error()}}, false
	}
	if len(vs) > 0 {
		return violationProblems(file, n, prefix, []bool{false, true}, vs), false
	}
	ck := &checker{file: file, path: "accounts[" + strconv.Itoa(idx) + "]", at: nodePos(file, n), platform: r.platform}
	acc := fieldsOf(file, n, v)
	def := r.defFields
	*a = Account{Name: str(acc["name"].v), Pos: acc["name"].pos()}

	element := pick(acc["element"], def["element"])
	a.Element = str(element.v)
	description := pick(acc["description"], def["description"])
	a.Description = str(description.v)
	switch r.platform {
	case AdobeFlow:
		if f := acc["element"]; f.ok() {
			ck.errorf(f.keyPos(), "adobe-flow connections have no element; remove it", "%s.element: not allowed on adobe-flow", ck.path)
		}
		a.Element = ""
	case CloudElements, OpenConnectors:
		if f := acc["description"]; f.ok() {
			ck.errorf(f.keyPos(), "description is for adobe-flow connections only; use tags or configuration instead", "%s.description: not allowed on %s", ck.path, r.platform)
		}
		if !element.ok() {
			ck.errorf(ck.at, "set element: hubspot (Marketing) or hubspotcrm (CRM) on the account or in defaults", "%s: missing required key \"element\"", ck.path)
		}
		a.Description = ""
	}

	for _, t := range concat(def["tags"].items(), acc["tags"].items()) {
		s := str(t.v)
		if strings.HasPrefix(s, "hubprov:") {
			ck.errorf(t.pos(), "hubprov writes its own hubprov: markers; choose another tag", "%s: tag %q: the hubprov: prefix is reserved", t.path(ck, "", "tags"), s)
		}
		a.Tags = append(a.Tags, s)
	}
	a.Configuration = mergeConfig(def["configuration"].v, acc["configuration"].v)

	r.auth(ck, a, acc["auth"], def["auth"])
	return ck.probs, !ck.failed
}

// mergeConfig merges configuration maps, the account's keys winning.
func mergeConfig(def, acc any) map[string]any {
	d, _ := def.(map[string]any)
	m, _ := acc.(map[string]any)
	if len(d)+len(m) == 0 {
		return nil
	}
	out := make(map[string]any, len(d)+len(m))
	for k, v := range d {
		out[k] = v
	}
	for k, v := range m {
		if dm, ok := out[k].(map[string]any); ok {
			if mm, ok := v.(map[string]any); ok {
				v = mergeConfig(dm, mm)
			}
		}
		out[k] = v
	}
	return out
}

// auth merges, checks and decodes an account's auth.
func (r *run) auth(ck *checker, a *Account, accAuth, defAuth field) {
	if !accAuth.ok() && !defAuth.ok() {
		ck.errorf(ck.at, "give the account an auth, or put a shared one in defaults", "%s: missing required key \"auth\"", ck.path)
		return
	}
	fa := fieldsOf(accAuth.file, accAuth.val, accAuth.v)
	fd := r.defAuthFields
	authAt := ck.at
	if accAuth.ok() {
		authAt = accAuth.keyPos()
	}
	tf := pick(fa["type"], fd["type"])
	if !tf.ok() {
		ck.errorf(authAt, "set auth.type: apiKey, oauth2 or oauth2Tokens, on the account or in defaults", "%s.auth: missing required key \"type\"", ck.path)
		return
	}
	t := AuthType(str(tf.v))
	a.Auth.Type = t
	allowed := authKeys[t]
	merged := map[string]field{}
	for k, f := range fd {
		if slices.Contains(allowed, k) {
			merged[k] = f
		}
	}
	for k, f := range fa {
		if !slices.Contains(allowed, k) {
			// The lean account schema leaves this rule to us (schema.ValidateDef).
			ck.errorf(f.keyPos(), "auth type "+string(t)+" takes "+strings.Join(allowed[1:], ", "), "%s.auth.%s: not allowed with auth type %s", ck.path, k, t)
			continue
		}
		merged[k] = f
	}
	if r.platform == AdobeFlow && t != AuthOAuth2Tokens {
		ck.errorf(tf.pos(), flowAuthHint, "%s: adobe-flow accepts only oauth2Tokens, not %s", tf.path(ck, ".auth", "type"), t)
		return
	}
	var missing []string
	for _, k := range authRequired(t, r.platform) {
		if !merged[k].ok() {
			missing = append(missing, k)
		}
	}
	for _, k := range missing {
		hint := ""
		if r.platform == AdobeFlow {
			hint = flowAuthHint
		}
		ck.errorf(authAt, hint, "%s.auth: missing required key %q for auth type %s", ck.path, k, t)
	}

	sec := func(k string) Secret {
		f, ok := merged[k]
		if !ok {
			return Secret{}
		}
		s := r.secret(f.file, f.val, f.v)
		if s.Source == SecretLiteral && s.Resolved() && !f.def {
			// Literal secrets in defaults are reported once, by checkDefaults.
			ck.warnf(s.Pos, literalHint, "%s: literal secret in the manifest", f.path(ck, ".auth", k))
		}
		return s
	}
	au := &a.Auth
	au.APIKey = sec("apiKey")
	au.ClientID = str(merged["clientId"].v)
	au.ClientSecret = sec("clientSecret")
	au.CallbackURL = str(merged["callbackURL"].v)
	au.Code = sec("code")
	au.AccessToken = sec("accessToken")
	au.RefreshToken = sec("refreshToken")
	if f := merged["expiresIn"]; f.ok() {
		// The schema admits integers from 1 to 2^31-1, an integral number such as
		// 1800.0 or 1.8e3 among them (JSON Schema's integer): take it as one.
		n, ok := f.v.(int64)
		if x, isFloat := f.v.(float64); isFloat && x == math.Trunc(x) && x >= 1 && x <= math.MaxInt32 {
			n, ok = int64(x), true
		}
		if ok {
			au.ExpiresIn = int(n)
			if n > 1800 {
				ck.warnf(f.pos(), "HubSpot's OAuth access tokens last 1800 seconds (30 minutes); use expiresIn: 1800", "%s: %d is longer than HubSpot's 1800-second access-token lifetime", f.path(ck, ".auth", "expiresIn"), n)
			}
		}
	}
	for _, s := range concat(fd["scopes"].items(), fa["scopes"].items()) {
		if _, ok := merged["scopes"]; !ok {
			break
		}
		sc := str(s.v)
		au.Scopes = append(au.Scopes, sc)
		switch {
		case sc == "contacts":
			ck.warnf(s.pos(), "use crm.objects.contacts.read and/or crm.objects.contacts.write", "%s: HubSpot removed the contacts scope on 2022-07-31", s.path(ck, ".auth", "scopes"))
		case marketingScopes[sc] && a.Element == ElementCRM:
			ck.errorf(s.pos(), "remove the scope, or use element hubspot (HubSpot Marketing)", "%s: %q is a HubSpot Marketing scope: on hubspotcrm users will receive a Permissions error", s.path(ck, ".auth", "scopes"), sc)
		}
	}
	if t == AuthAPIKey {
		ck.warnf(tf.pos(), "the platform must still accept the key; move to oauth2 or oauth2Tokens", "%s: HubSpot stopped supporting API keys on 2022-11-30", tf.path(ck, ".auth", "type"))
	}
	if len(missing) > 0 {
		ck.failed = true
	}
}

// checker collects one account's problems.
type checker struct {
	file     string
	path     string
	at       Pos
	platform Platform
	probs    []Problem
	failed   bool
}

func (c *checker) errorf(pos Pos, hint, format string, args ...any) {
	c.failed = true
	c.probs = append(c.probs, Problem{Pos: pos, Severity: Error, Message: fmt.Sprintf(format, args...), Hint: hint})
}

func (c *checker) warnf(pos Pos, hint, format string, args ...any) {
	c.probs = append(c.probs, Problem{Pos: pos, Severity: Warning, Message: fmt.Sprintf(format, args...), Hint: hint})
}

// checkBaseURL refuses http:// except for a loopback host.
func (r *run) checkBaseURL(pos Pos, s string) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		r.errorf(pos, "write a full URL such as https://api.example.com/elements/api-v2", "target.baseURL: not a valid URL")
		return
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			r.errorf(pos, "use https://; http:// is allowed only for a loopback host (127.0.0.0/8, ::1, localhost), such as the emulator", "target.baseURL: http:// to a non-loopback host would send credentials in clear text")
		}
	default:
		r.errorf(pos, "use https://", "target.baseURL: scheme %q is not supported", u.Scheme)
	}
	if u.User != nil {
		r.errorf(pos, "put credentials under target.credentials, never in the URL", "target.baseURL: must not hold user information")
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkDefaults warns about literal secrets and the scope rules in defaults once.
func (r *run) checkDefaults() {
	auth := findVal(r.defaults, "auth")
	fd := fieldsOf(r.defaultsFile, auth, r.defaultsVal["auth"])
	if t := AuthType(str(fd["type"].v)); authKeys[t] != nil {
		// The loader's schema leaves this rule to us (schema.ValidateDef).
		allowed := authKeys[t]
		for _, k := range sortedKeys(fd) {
			if !slices.Contains(allowed, k) {
				r.errorf(fd[k].keyPos(), "auth type "+string(t)+" takes "+strings.Join(allowed[1:], ", "), "defaults.auth.%s: not allowed with auth type %s", k, t)
			}
		}
	}
	for _, k := range sortedKeys(fd) {
		f := fd[k]
		if _, ok := f.v.(string); ok && k != "type" && k != "clientId" && k != "callbackURL" && k != "scopes" {
			r.warnf(f.pos(), literalHint, "defaults.auth.%s: literal secret in the manifest", k)
		}
	}
}
