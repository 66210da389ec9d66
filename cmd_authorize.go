package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"strings"

	"github.com/hubprov/hubprov/manifest"
	"github.com/hubprov/hubprov/provision"
	"github.com/hubprov/hubprov/provision/cloudelements"
)

var _ provision.Authorizer = (*cloudelements.Client)(nil)

func runAuthorizeURLs(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet("authorize-urls", "hubprov authorize-urls -f MANIFEST... [flags]",
		`Prints the HubSpot consent URL of every oauth2 account that has no code yet, for its
portal owner to open: GET /elements/{key}/oauth/url with the account's clientId,
clientSecret, callbackURL and scopes, and the account's name as the OAuth state.
Accounts that already have a code are skipped and named on stderr. Output is in
manifest order: CSV (account,element,url) with a header row, or a JSON array.
Cloud Elements and Open Connectors only: adobe-flow has no consent URL.`, env)
	var c commonFlags
	var pol policyFlags
	c.register(fs)
	pol.register(fs)
	format := fs.String("format", "csv", "output `FORMAT`: csv (with a header row) or json (an array of {account, element, url})")
	parallelism := fs.Int("parallelism", 8, "requests at once")
	emulate := fs.Bool("emulate", false, "ask the built-in emulator on a random loopback port instead of the platform (state kept in "+emulatorState+")")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return unexpectedArg(fs.Arg(0), "manifests are given with -f")
	}
	if *format != "csv" && *format != "json" {
		return invalidf("--format %q: want csv or json", *format)
	}
	if *parallelism < 1 {
		return invalidf("--parallelism %d: want at least 1", *parallelism)
	}
	opts, err := pol.options()
	if err != nil {
		return err
	}
	opts.Parallelism = *parallelism
	s, err := openSession(env, &c, opts, *emulate)
	if err != nil {
		return err
	}
	defer s.close(env)
	if !provision.CanAuthorize(s.pf) {
		return invalidf("%s has no consent URL: its connections take oauth2Tokens (accessToken and refreshToken obtained beforehand); nothing was sent", s.m.Target.Platform)
	}

	var ask []manifest.Account
	var withCode []string
	for _, a := range s.accounts {
		switch {
		case provision.NeedsConsent(a):
			ask = append(ask, a)
		case a.Auth.Type == manifest.AuthOAuth2:
			withCode = append(withCode, a.Name)
		}
	}
	if len(withCode) > 0 {
		env.ui.note("skipped %d oauth2 %s with a code already: %s",
			len(withCode), plural(len(withCode), "account"), strings.Join(withCode, ", "))
	}
	if len(ask) == 0 {
		env.ui.note("no selected oauth2 account is waiting for a code (%d selected)", len(s.accounts))
	}

	out := s.run.AuthorizeURLs(ctx, ask)
	if err := writeConsentURLs(env.stdout, *format, out.URLs); err != nil {
		return failuresf("%v", err)
	}
	var failed []string
	for _, u := range out.URLs {
		if u.Status == provision.Failed && u.Error != nil && u.Error.Class != provision.Systemic {
			failed = append(failed, u.Name+": "+s.scrub(u.Error.Message))
		}
	}
	switch {
	case out.AbortClass == provision.Canceled:
		return errInterrupted(ctx)
	case out.Aborted != "":
		err := abortedf("aborted: %s", s.scrub(out.Aborted))
		if out.AbortClass == provision.Systemic {
			err.withHint("%s", credentialHint(s.m))
		}
		return err
	case len(failed) > 0:
		return failuresf("%d of %d consent URLs failed", len(failed), len(ask)).withDetails(failed...).
			withHint("rerun with --select for the failed accounts; asking again changes nothing")
	}
	return nil
}

// writeConsentURLs writes the obtained URLs, in order: CSV with a header row, or a JSON array.
func writeConsentURLs(w io.Writer, format string, urls []provision.ConsentURL) error {
	type row struct {
		Account string `json:"account"`
		Element string `json:"element"`
		URL     string `json:"url"`
	}
	rows := make([]row, 0, len(urls))
	for _, u := range urls {
		if u.Status == provision.Succeeded {
			rows = append(rows, row{u.Name, u.Element, u.URL})
		}
	}
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(rows)
	}
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"account", "element", "url"})
	for _, r := range rows {
		_ = cw.Write([]string{r.Account, r.Element, r.URL})
	}
	cw.Flush()
	return cw.Error()
}
