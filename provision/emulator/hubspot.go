package emulator

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
)

// HubSpotPrefix is where the emulator plays HubSpot's side of the OAuth
// consent: the oauthUrl that GET /elements/{key}/oauth/url returns points at
// HubSpotPrefix+"/oauth/authorize" on the emulator itself, so a consent can be
// given (or refused) without a HubSpot account. Requests under it are not
// platform API calls: they are not counted, rate limited or faulted.
const HubSpotPrefix = "/hubspot"

func (e *Emulator) routesHubSpot() {
	e.mux.HandleFunc("GET "+HubSpotPrefix+"/oauth/authorize", e.hsAuthorize)
	e.mux.HandleFunc("GET "+HubSpotPrefix+"/oauth/approve", e.hsApprove)
	e.mux.HandleFunc("GET "+HubSpotPrefix+"/oauth/deny", e.hsDeny)
}

// consentURL is the emulated HubSpot consent page for one request to oauth/url,
// on the host the request was sent to.
func consentURL(r *http.Request, clientID, callbackURL, scope, state string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	esc := func(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }
	return scheme + "://" + r.Host + HubSpotPrefix + "/oauth/authorize?client_id=" + esc(clientID) +
		"&redirect_uri=" + esc(callbackURL) + "&scope=" + esc(scope) + "&state=" + esc(state)
}

var hsPage = template.Must(template.New("consent").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>HubSpot (emulated): connect an app</title>
<style>body{font-family:sans-serif;max-width:40em;margin:3em auto;line-height:1.4}
a.button{display:inline-block;padding:.5em 1.2em;margin-right:1em;border-radius:4px;text-decoration:none}
.approve{background:#ff7a59;color:#fff}.deny{border:1px solid #999;color:#333}code{word-break:break-all}</style></head>
<body>
<p><small>hubprov emulator: this page stands in for HubSpot's consent screen.</small></p>
{{if .Problem}}<h1>This link does not work</h1><p>{{.Problem}}</p>{{else}}
<h1>Connect an app to your HubSpot account</h1>
<p>The app <code>{{.ClientID}}</code> asks for access to:</p>
<ul>{{range .Scopes}}<li><code>{{.}}</code></li>{{end}}</ul>
<p>After you choose, you are sent back to <code>{{.Redirect}}</code>.</p>
<p><a class="button approve" id="approve" href="{{.Approve}}">Connect app</a>
<a class="button deny" id="deny" href="{{.Deny}}">Cancel</a></p>{{end}}
</body></html>
`))

// hsAuthorize serves the consent page: the app, the scopes it asks for, and an
// approve and a deny link carrying the same query.
func (e *Emulator) hsAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	data := struct {
		Problem, ClientID, Redirect, Approve, Deny string
		Scopes                                     []string
	}{ClientID: q.Get("client_id"), Redirect: q.Get("redirect_uri"), Scopes: strings.Fields(q.Get("scope"))}
	status := http.StatusOK
	if _, err := redirectTarget(q); err != nil {
		data.Problem, status = err.Error(), http.StatusBadRequest
	}
	data.Approve = HubSpotPrefix + "/oauth/approve?" + r.URL.RawQuery
	data.Deny = HubSpotPrefix + "/oauth/deny?" + r.URL.RawQuery
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = hsPage.Execute(w, data)
}

// hsApprove redirects to the app's redirect URI with a fresh single-use code
// and the state it was given, as HubSpot does after the owner approves.
func (e *Emulator) hsApprove(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	target, err := redirectTarget(q)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	code := "hs-" + hex.EncodeToString(b)
	e.mu.Lock()
	e.stats.ConsentCodes++
	e.mu.Unlock()
	v := target.Query()
	v.Set("code", code)
	if s := q.Get("state"); s != "" {
		v.Set("state", s)
	}
	target.RawQuery = v.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target.String(), http.StatusFound)
}

// hsDeny redirects to the app's redirect URI with error=access_denied and the
// state, as HubSpot does when the owner cancels.
func (e *Emulator) hsDeny(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	target, err := redirectTarget(q)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	e.mu.Lock()
	e.stats.ConsentDenials++
	e.mu.Unlock()
	v := target.Query()
	v.Set("error", "access_denied")
	v.Set("error_description", "The user denied the request")
	if s := q.Get("state"); s != "" {
		v.Set("state", s)
	}
	target.RawQuery = v.Encode()
	http.Redirect(w, r, target.String(), http.StatusFound)
}

// redirectTarget checks the consent request and returns its redirect URI.
func redirectTarget(q url.Values) (*url.URL, error) {
	if q.Get("client_id") == "" {
		return nil, errors.New("the request names no app (client_id is missing)")
	}
	u, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("the app's redirect_uri is missing or not an absolute http(s) URL")
	}
	return u, nil
}
