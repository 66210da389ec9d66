package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hubprov/hubprov/manifest"
	"github.com/hubprov/hubprov/provision"
	"github.com/hubprov/hubprov/provision/cloudelements"
)

var _ provision.Authorizer = (*cloudelements.Client)(nil)

func runAuthorizeURLs(ctx context.Context, env *cmdEnv, args []string) int {
	fs := newFlagSet("authorize-urls", "hubprov authorize-urls -f MANIFEST... [flags]",
		`Prints the HubSpot consent URL of every oauth2 account that has no code yet, for its
portal owner to open: GET /elements/{key}/oauth/url with the account's clientId,
clientSecret, callbackURL and scopes, and the account's name as the OAuth state.
Accounts that already have a code are skipped and named on stderr. Output is in
manifest order: CSV (account,element,url) with a header row, or a JSON array.
Cloud Elements and Open Connectors only: adobe-flow has no consent URL.`, env)
	var c commonFlags
	c.register(fs)
	format := fs.String("format", "csv", "output format: csv (with a header row) or json (an array of {account, element, url})")
	parallelism := fs.Int("parallelism", 8, "requests at once")
	emulate := fs.Bool("emulate", false, "ask the built-in emulator on a random loopback port instead of the platform (state kept in "+emulatorState+")")
	if code, ok := parseFlags(fs, env, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.stderr, "hubprov authorize-urls: unexpected argument %q\nhint: manifests are given with -f\n", fs.Arg(0))
		return exitInvalid
	}
	if *format != "csv" && *format != "json" {
		fmt.Fprintf(env.stderr, "hubprov authorize-urls: --format %q: want csv or json\n", *format)
		return exitInvalid
	}
	if *parallelism < 1 {
		fmt.Fprintf(env.stderr, "hubprov authorize-urls: --parallelism %d: want at least 1\n", *parallelism)
		return exitInvalid
	}
	s, code := openSession(env, &c, *parallelism, *emulate)
	if s == nil {
		return code
	}
	defer s.close(env)
	az, ok := s.pf.(provision.Authorizer)
	if !ok {
		fmt.Fprintf(env.stderr, "hubprov authorize-urls: %s has no consent URL: its connections take oauth2Tokens (accessToken and refreshToken obtained beforehand); nothing was sent\n", s.m.Target.Platform)
		return exitInvalid
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
		fmt.Fprintf(env.stderr, "hubprov authorize-urls: skipped %d oauth2 %s with a code already: %s\n",
			len(withCode), plural(len(withCode), "account"), strings.Join(withCode, ", "))
	}
	if len(ask) == 0 {
		fmt.Fprintf(env.stderr, "hubprov authorize-urls: no selected oauth2 account is waiting for a code (%d selected)\n", len(s.accounts))
	}

	out := provision.AuthorizeURLs(ctx, az, ask, provision.Options{
		Parallelism: *parallelism, RequestTimeout: defaultRequestTimeout, Log: s.log, Scrub: s.scrub,
	})
	if err := writeConsentURLs(env.stdout, *format, out.URLs); err != nil {
		fmt.Fprintf(env.stderr, "hubprov authorize-urls: %v\n", err)
		return exitFailures
	}
	failed := 0
	for _, u := range out.URLs {
		if u.Status == provision.Failed && u.Error != nil && u.Error.Class != provision.Systemic {
			failed++
			fmt.Fprintf(env.stderr, "hubprov authorize-urls: %s: %s\n", u.Name, s.scrub(u.Error.Message))
		}
	}
	switch {
	case out.Aborted != "":
		fmt.Fprintf(env.stderr, "hubprov authorize-urls: aborted: %s\n", s.scrub(out.Aborted))
		if out.AbortClass == provision.Systemic {
			fmt.Fprintln(env.stderr, credentialHint(s.m))
		}
		return exitAborted
	case failed > 0:
		fmt.Fprintf(env.stderr, "hubprov authorize-urls: %d of %d consent URLs failed\nhint: rerun with --select for the failed accounts; asking again changes nothing\n", failed, len(ask))
		return exitFailures
	}
	return exitOK
}

// defaultRequestTimeout is the time limit of one request, as apply's --request-timeout default.
const defaultRequestTimeout = 60 * time.Second

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
