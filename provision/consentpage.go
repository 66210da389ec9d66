package provision

import (
	"html/template"
	"net/http"
	"strings"
)

// The pages a portal owner sees after a consent.
type pageKind int

const (
	pageConnected pageKind = iota
	pageAlready
	pageBusy
	pageDenied
	pageFailed
	pageStopping
	pageInvalid
)

// ownerTexts are each page's title and lead sentence; {{.Account}} and
// {{.Contact}} are filled in, {{.Detail}} says what went wrong.
var ownerTexts = map[pageKind][2]string{
	pageConnected: {"Connected", "Your HubSpot account {{.Account}} is now connected. You can close this page."},
	pageAlready:   {"Already connected", "Your HubSpot account {{.Account}} was already connected. Nothing more is needed; you can close this page."},
	pageBusy:      {"Connecting", "Your HubSpot account {{.Account}} is being connected right now. Wait a few seconds, then open your link again to see the result."},
	pageDenied:    {"Not connected", "Access was not granted, so your HubSpot account {{.Account}} was not connected. If that was a mistake, open your link again and choose to connect."},
	pageFailed:    {"Not connected", "Your HubSpot account {{.Account}} could not be connected."},
	pageStopping:  {"Try again later", "The connection service is stopping, so nothing was changed for your HubSpot account {{.Account}}. Open your link again later."},
	pageInvalid:   {"This link does not work", "Nothing was changed. Ask for a new link: links stop working when they expire or when the connection service restarts."},
}

var ownerPage = template.Must(template.New("owner").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{{.Title}}</title>
<style>body{font-family:sans-serif;max-width:36em;margin:3em auto;padding:0 1em;line-height:1.5}
h1{font-size:1.5em}.ok{color:#1a7f37}.bad{color:#b42318}</style></head>
<body>
<h1 class="{{if .OK}}ok{{else}}bad{{end}}">{{.Title}}</h1>
<p>{{.Lead}}</p>
{{if .Detail}}<p>{{.Detail}}</p>{{end}}
{{if not .OK}}<p>If you need help, contact {{.Contact}}{{if .Account}} and mention the account <strong>{{.Account}}</strong>{{end}}.</p>{{end}}
</body></html>
`))

var leadTemplates = func() map[pageKind]*template.Template {
	m := map[pageKind]*template.Template{}
	for k, t := range ownerTexts {
		m[k] = template.Must(template.New("lead").Parse(t[1]))
	}
	return m
}()

// page answers the portal owner. Nothing on it comes from the callback's
// query except through detail, which the caller has scrubbed.
func (s *ConsentServer) page(w http.ResponseWriter, status int, kind pageKind, account, detail string) {
	var lead template.HTML
	var b strings.Builder
	data := struct {
		Account, Contact string
	}{account, s.co.Contact}
	if err := leadTemplates[kind].Execute(&b, data); err == nil {
		lead = template.HTML(b.String()) // the lead template escaped what it filled in
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = ownerPage.Execute(w, struct {
		Title, Account, Contact, Detail string
		Lead                            template.HTML
		OK                              bool
	}{ownerTexts[kind][0], account, s.co.Contact, detail, lead, kind == pageConnected || kind == pageAlready})
}

var operatorPage = template.Must(template.New("operator").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="15">
<title>hubprov consent: {{.Set}}</title>
<style>body{font-family:sans-serif;margin:2em;line-height:1.4}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
td.url{max-width:40em;word-break:break-all;font-size:.85em}.failed,.denied{color:#b42318}</style></head>
<body>
<h1>hubprov consent: set {{.Set}}</h1>
<p><strong>{{.Counts.Connected}}</strong> connected, <strong>{{.Counts.Pending}}</strong> pending
({{.Counts.Failed}} failed, {{.Counts.Denied}} refused) of {{.Counts.Total}} oauth2 accounts.
Send each portal owner their account's link; the instance is created the moment they approve.
This page refreshes every 15 seconds; <a href="/accounts.json">/accounts.json</a> has the same as JSON.</p>
{{if .Pending}}<table>
<tr><th>account</th><th>element</th><th>status</th><th>consent link</th></tr>
{{range .Pending}}<tr><td>{{.Name}}</td><td>{{.Element}}</td><td class="{{.Status}}">{{.Status}}{{if .Error}}: {{.Error}}{{end}}</td>
<td class="url">{{if .URL}}<a href="{{.URL}}">{{.URL}}</a>{{end}}</td></tr>
{{end}}</table>{{else}}<p>Every account is connected.</p>{{end}}
</body></html>
`))

func (s *ConsentServer) operatorPage(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = operatorPage.Execute(w, struct {
		Set     string
		Counts  ConsentCounts
		Pending []ConsentAccount
	}{s.r.plan.Set, s.Counts(), s.Pending()})
}
