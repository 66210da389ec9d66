package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hubprov/hubprov/manifest"
	"github.com/hubprov/hubprov/provision"
)

func runConsent(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet("consent", "hubprov consent -f MANIFEST... --listen ADDR [flags]",
		`Serves the HubSpot app's redirect URI for the oauth2 accounts that have no code and
no instance yet, and creates each account's instance the moment its portal owner
approves: HubSpot redirects the owner to /callback with a short-lived, single-use
code, and hubprov sends it to the platform at once (providerData.code), through the
same engine as apply: markers, journal, run lock, retry and rate policy, report.
The code is never written anywhere.

  GET /callback       the redirect URI (the accounts' callbackURL must name it)
  GET /accounts.json  the accounts still waiting, with each one's consent URL
  GET /               the same, as a page for the operator

Each consent URL carries a state naming the set and the account, signed with a key
that only this process holds and valid for --state-ttl: a forged, changed, expired
or other set's state is refused (400) and creates nothing; a repeated callback for a
connected account creates nothing. Links are valid only while this process runs:
after a restart, hand out the new ones.

Exits 0 once every account is connected; on SIGINT or SIGTERM it stops taking
callbacks, finishes the creates in flight, and writes the report listing the
accounts still waiting as skipped (awaiting-consent). A rerun serves only those.

Exit codes: 0 every account connected; 3 invalid manifest or usage, the report
locked by another run, or --listen unusable (nothing sent); 4 platform
credentials rejected, failure budget exceeded, journal or report unwritable;
130 SIGINT, 143 SIGTERM (the report is written; a rerun finishes the work).`, env)
	var c commonFlags
	var e engineFlags
	c.register(fs)
	e.register(fs)
	listen := fs.String("listen", "", "address to serve on, `HOST:PORT` (with --emulate: a free loopback port by default)")
	publicURL := fs.String("public-url", "", "the externally visible base `URL` of this server, behind an ingress or TLS proxy: the redirect URI is URL/callback (default: http://ADDR)")
	contact := fs.String("contact", "", "whom portal owners should contact when something goes wrong, shown on their pages (default: \"the person who sent you the link\")")
	stateTTL := fs.Duration("state-ttl", 24*time.Hour, "how long a consent link stays valid; links are renewed after half of it")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return unexpectedArg(fs.Arg(0), "manifests are given with -f")
	}
	if *listen == "" {
		if !e.emulate {
			return invalidf("--listen is required: the address to serve the redirect URI on").
				withHint("for example --listen :8080 behind a TLS-terminating ingress, with --public-url https://consent.example.com")
		}
		*listen = "127.0.0.1:0"
	}
	if *stateTTL < time.Minute {
		return invalidf("--state-ttl %v: want at least 1m", *stateTTL)
	}
	var public *url.URL
	if *publicURL != "" {
		u, err := url.Parse(*publicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return invalidf("--public-url %q: want an absolute http(s) URL without query, such as https://consent.example.com", *publicURL)
		}
		public = u
	}
	opts, err := e.options()
	if err != nil {
		return err
	}

	started := time.Now().UTC()
	journalPath := e.report + ".journal"
	if err := e.checkOutputs(); err != nil {
		return err
	}
	s, err := openSession(env, &c, opts, e.emulate)
	if err != nil {
		return err
	}
	defer s.close(env)
	if !provision.CanAuthorize(s.pf) {
		return invalidf("%s has no consent URL: its connections take oauth2Tokens (accessToken and refreshToken obtained beforehand); nothing was sent", s.m.Target.Platform)
	}
	release, err := e.lock(ctx, started)
	if err != nil {
		return err
	}
	defer release(s)
	plan, err := s.plan(ctx, false, e.report, true)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return invalidf("--listen %s: %v; nothing was sent", *listen, userNetError(err)).
			withHint("pick a free port, or a host address this machine has")
	}
	defer ln.Close()
	if public == nil {
		public = &url.URL{Scheme: "http", Host: ln.Addr().String()}
	}
	prefix := strings.TrimSuffix(public.EscapedPath(), "/")
	base := public.Scheme + "://" + public.Host + prefix
	callback := base + "/callback"

	journal, err := s.openJournal(journalPath)
	if err != nil {
		return err
	}
	s.run.Attach(journal, nil)
	progress := &provision.Progress{}
	co := provision.ConsentOptions{Contact: *contact, StateTTL: *stateTTL, Progress: progress}
	if s.emu != nil {
		co.CallbackURL = callback
	}
	cs, err := provision.NewConsentServer(ctx, s.run, plan, co)
	if err != nil {
		journal.Close()
		return invalidf("%v", err)
	}
	n := cs.Counts()
	fmt.Fprintf(env.stdout, "consent: set %q on %s (%s), %d oauth2 %s waiting for consent, %d connected earlier\n",
		s.m.Set, s.m.Target.Platform, s.baseURL, n.Pending, plural(n.Pending, "account"), n.Connected)
	if n.Pending > 0 {
		warnCallbacks(env, s, cs, callback)
		fmt.Fprintf(env.stdout, "Redirect URI: %s\nOperator page: %s/ (the same as JSON: %s/accounts.json)\n", callback, base, base)
	}

	srv := &http.Server{
		Handler:           withPrefix(prefix, cs),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.New(s.log.With().Str("component", "consent server").Logger(), "", 0),
	}
	serveErr := make(chan error, 1)
	if n.Pending > 0 {
		go func() { serveErr <- srv.Serve(ln) }()
		cs.FetchURLs(ctx)
		for _, p := range cs.Pending() {
			if p.Error != "" {
				s.log.Warn().Str("account", p.Name).Str("error", p.Error).Msg("no consent URL yet: asked again when the operator page or /accounts.json is opened")
			}
		}
		s.log.Info().Str("listen", ln.Addr().String()).Str("redirectURI", callback).Int("pending", n.Pending).Msg("waiting for consents")
	}

	stopNotes := noteInterrupts(ctx, env)
	defer stopNotes()
	stop := make(chan struct{})
	var waitProgress func()
	if isTerminal(env.stderr) && !c.noProgress {
		waitProgress = showProgress(ctx, env, s.log, progress, int64(n.Pending), true, stop)
	} else {
		waitProgress = logConsentProgress(s, cs, stop)
	}
	var served error
	select {
	case <-cs.Done():
		if n.Pending > 0 {
			s.log.Info().Msg("every account is connected")
		}
	case <-cs.Stopped():
	case served = <-serveErr:
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.log.Warn().Err(err).Msg("consent server: callbacks still in flight were cut off")
	}
	cancel()
	cs.Close()
	close(stop)
	waitProgress()
	if err := journal.Close(); err != nil {
		s.log.Error().Err(err).Msg("journal")
	}
	err = finishRun(ctx, env, s, "consent", started, &e, journalPath, cs.Outcome())
	if served != nil && !errors.Is(served, http.ErrServerClosed) && err == nil {
		return abortedf("the consent server stopped: %v", userNetError(served)).
			withHint("rerun the same command to serve the accounts still waiting")
	}
	return err
}

// logConsentProgress logs the counts every few seconds while they change,
// and every few minutes while they do not (a consent waits for people), until
// stop is closed.
func logConsentProgress(s *session, cs *provision.ConsentServer, stop <-chan struct{}) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		var last provision.ConsentCounts
		var lastAt time.Time
		for {
			select {
			case <-stop:
				return
			case now := <-t.C:
				n := cs.Counts()
				if n == last && now.Sub(lastAt) < 5*time.Minute {
					continue
				}
				last, lastAt = n, now
				s.log.Info().Int("connected", n.Connected).Int("pending", n.Pending).Int("failed", n.Failed).
					Int("denied", n.Denied).Int("total", n.Total).Msg("consent progress")
			}
		}
	}()
	return func() { <-done }
}

// warnCallbacks says, at start, which pending accounts' callbackURL is not
// this server's redirect URI: HubSpot would send those owners elsewhere.
func warnCallbacks(env *cmdEnv, s *session, cs *provision.ConsentServer, callback string) {
	var waiting []manifest.Account
	for _, a := range cs.Accounts() {
		if !cs.Connected(a.Name) {
			waiting = append(waiting, a)
		}
	}
	wrong := provision.CallbackMismatches(waiting, callback)
	if len(wrong) == 0 {
		return
	}
	if s.emu != nil {
		env.ui.note("--emulate: the emulated HubSpot sends owners back to %s; the %d accounts' callbackURL (%s) is kept for their instances",
			callback, len(wrong), waiting[0].Auth.CallbackURL)
		return
	}
	shown := wrong
	if len(shown) > 10 {
		shown = append(shown[:10:10], fmt.Sprintf("and %d more", len(wrong)-10))
	}
	env.ui.warn(fmt.Sprintf("%d of %d accounts have a callbackURL that is not this server's redirect URI %s: HubSpot will send their owners' codes elsewhere, and they stay pending",
		len(wrong), len(waiting), callback), shown,
		"set auth.callbackURL (in defaults) to "+callback+", the redirect URI registered in the HubSpot app; behind an ingress, pass --public-url with its external base URL")
}

// withPrefix serves h at / and, behind an ingress that does not strip it,
// under the public URL's path prefix too.
func withPrefix(prefix string, h http.Handler) http.Handler {
	if prefix == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := strings.CutPrefix(r.URL.Path, prefix); ok && (p == "" || p[0] == '/') {
			r2 := *r
			u := *r.URL
			u.Path = p
			if u.Path == "" {
				u.Path = "/"
			}
			u.RawPath = ""
			r2.URL = &u
			r = &r2
		}
		h.ServeHTTP(w, r)
	})
}

// userNetError words a listener error without Go's chain.
func userNetError(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
}
