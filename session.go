package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/rs/zerolog"

	"github.com/hubprov/hubprov/internal/safefile"
	"github.com/hubprov/hubprov/manifest"
	"github.com/hubprov/hubprov/provision"
	"github.com/hubprov/hubprov/provision/cloudelements"
	"github.com/hubprov/hubprov/provision/flowservice"
)

// defaultBaseURL is each platform's public API root; open-connectors is regional and has none.
var defaultBaseURL = map[manifest.Platform]string{
	manifest.CloudElements: "https://api.cloud-elements.com/elements/api-v2",
	manifest.AdobeFlow:     "https://platform.adobe.io/data/foundation/flowservice",
}

// commonFlags are the flags every manifest-reading command shares.
type commonFlags struct {
	files      stringList
	selectors  stringList
	shard      string
	secretsDir string
	noProgress bool
	log        logFlags
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.Var(&c.files, "f", "a manifest `FILE|FOLDER` (a folder: all *.yaml and *.yml inside); repeatable")
	fs.Var(&c.selectors, "select", "only accounts whose name matches `NAME|GLOB` (path.Match syntax); repeatable")
	fs.StringVar(&c.shard, "shard", "", "only shard `i/n` of the accounts (a stable hash partition, i from 0), for n parallel jobs")
	fs.StringVar(&c.secretsDir, "secrets-dir", "", "also read {file: PATH} secrets with an absolute PATH under `DIR` (otherwise only relative paths inside the manifest's folder)")
	fs.BoolVar(&c.noProgress, "no-progress", false, "no progress bar; a log line every few seconds instead (commands without progress accept it, so one flag set serves every command)")
	c.log.register(fs)
}

func (c *commonFlags) selection() (provision.Selection, error) {
	s, err := provision.NewSelection(c.selectors, c.shard)
	if err != nil {
		return s, invalidf("%v", err)
	}
	return s, nil
}

// session is a loaded, resolved manifest and the platform it targets.
type session struct {
	m        *manifest.Manifest
	accounts []manifest.Account // selected
	sel      provision.Selection
	baseURL  string
	pf       provision.Platform
	run      *provision.Run // every request of the command goes through it
	hc       *http.Client
	log      zerolog.Logger
	scrub    func(string) string
	redactor *redactor
	emu      *emulated // nil unless --emulate
	// remote is what plan read, recovered the part of it the list did not show.
	remote, recovered []provision.Instance
}

// close stops what the session started: the emulator, saving its state.
func (s *session) close(env *cmdEnv) {
	if s.hc != nil {
		s.hc.CloseIdleConnections()
	}
	if s.emu != nil {
		if err := s.emu.close(); err != nil {
			env.log.Error().Err(err).Msg("emulator")
		}
	}
}

// errNoManifest is the one wording of a command given no -f.
func errNoManifest() error {
	return invalidf("no manifest given").withHint("pass one or more -f FILE_OR_FOLDER")
}

// loadManifest loads and checks the manifest files, printing their problems.
// It returns an exit-3 error when the manifest is unusable.
func loadManifest(env *cmdEnv, c *commonFlags, resolve bool) (*manifest.Manifest, error) {
	if len(c.files) == 0 {
		return nil, errNoManifest()
	}
	m, problems := manifest.Load(c.files)
	errs := 0
	for _, p := range problems {
		if p.Severity == manifest.Error {
			errs++
			env.ui.problem(p)
		}
	}
	if m == nil || errs > 0 {
		return nil, invalidf("the manifest is invalid (%d %s); nothing was sent", errs, plural(errs, "error")).
			withHint("run 'hubprov validate' for every problem, warnings included")
	}
	if resolve {
		problems := m.Resolve(env.getenv, c.secretsDir)
		for _, p := range problems {
			env.ui.problem(p)
		}
		if manifest.HasErrors(problems) {
			return nil, invalidf("some secret references cannot be resolved; nothing was sent")
		}
	}
	return m, nil
}

// openSession loads the manifest, resolves its secrets and builds the platform
// client and the command's one run (opts: its policy and engine options; the
// logger and scrubber are the session's). With emulate, it starts the
// built-in emulator, accepting the manifest's credentials, and targets it
// instead of the manifest's base URL.
func openSession(env *cmdEnv, c *commonFlags, opts provision.Options, emulate bool) (*session, error) {
	sel, err := c.selection()
	if err != nil {
		return nil, err
	}
	m, err := loadManifest(env, c, true)
	if err != nil {
		return nil, err
	}
	s := &session{m: m, sel: sel, log: env.log, redactor: env.redactor}
	var secrets []string
	for _, sec := range m.Secrets() {
		secrets = append(secrets, sec.Reveal())
	}
	s.redactor.add(secrets...)
	s.scrub = s.redactor.scrub
	for _, a := range m.Accounts {
		if sel.Owns(a.Name) {
			s.accounts = append(s.accounts, a)
		}
	}
	if len(s.accounts) == 0 && len(m.Accounts) > 0 && (len(c.selectors) > 0 || c.shard != "") {
		return nil, invalidf("--select/--shard matches none of the manifest's %d accounts; nothing was sent", len(m.Accounts)).
			withHint("--select takes an account name or a glob (path.Match syntax, quoted for the shell); --shard i/n counts i from 0")
	}
	s.baseURL = m.Target.BaseURL
	if s.baseURL == "" {
		s.baseURL = defaultBaseURL[m.Target.Platform]
	}
	if emulate {
		s.emu, err = startEmulated(m, s.log)
		if err != nil {
			return nil, invalidf("start the emulator: %v", err)
		}
		s.baseURL = s.emu.baseURL(m.Target.Platform)
	}
	if err := checkBaseURL(s.baseURL); err != nil {
		return nil, err
	}
	s.hc = newHTTPClient(opts.Parallelism)
	switch m.Target.Platform {
	case manifest.AdobeFlow:
		s.pf = flowservice.New(s.baseURL, s.hc, m.Target.Credentials)
	default:
		s.pf = cloudelements.New(s.baseURL, s.hc, m.Target.Credentials, m.Target.Platform)
	}
	opts.Log, opts.Scrub, opts.Abandon = s.log, s.scrub, env.abandon
	s.run = provision.NewRun(s.pf, opts)
	return s, nil
}

// checkBaseURL refuses anything but https, except http to a loopback host.
func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return invalidf("base URL %q is not an absolute URL", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return invalidf("base URL %q uses http:// to a host that is not loopback: credentials would cross the network in clear", raw).
			withHint("use https://")
	default:
		return invalidf("base URL %q: scheme must be https", raw)
	}
}

// isLoopback reports whether host is localhost or a loopback address.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// newHTTPClient returns the run's one client: a transport sized to the
// parallelism, so connections are reused, and no redirects.
func newHTTPClient(parallelism int) *http.Client {
	if parallelism < 1 {
		parallelism = 8
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = parallelism + 8
	t.MaxIdleConnsPerHost = parallelism + 8
	t.MaxConnsPerHost = 0
	t.IdleConnTimeout = 90 * time.Second
	t.Proxy = http.ProxyFromEnvironment
	return &http.Client{
		Transport: t,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// plan reads the platform's instances of the set and plans. With a report
// path (apply, destroy, and plan itself, which writes nothing there), it first
// settles what earlier runs at that path left behind: the journal's pending creates are looked up by marker, and the
// instances the journal or the previous report know by id but the list does
// not show are read by id. It refuses (exit 3) a journal that holds another
// set's unresolved creates when writes is set (apply, destroy: the new
// journal would lose them); plan, which writes nothing, only warns.
func (s *session) plan(ctx context.Context, prune bool, reportPath string, writes bool) (provision.Plan, error) {
	var rec provision.Recovery
	if reportPath != "" {
		st, err := provision.ReadJournal(reportPath + ".journal")
		if err != nil {
			return provision.Plan{}, invalidf("%v", err).withHint("the journal must be a regular file hubprov wrote")
		}
		if st.TornTail {
			s.log.Warn().Str("journal", reportPath+".journal").Msg("the journal's last line is incomplete (a crash or a full disk mid-write): ignored")
		}
		if len(st.Corrupt) > 0 {
			s.log.Warn().Str("journal", reportPath+".journal").Ints("lines", st.Corrupt).
				Msg("the journal has unreadable lines: the accounts they may concern are looked up by marker before any create")
		}
		names := make([]string, len(s.m.Accounts))
		for i, a := range s.m.Accounts {
			names[i] = a.Name
		}
		rec, err = st.Recovery(s.journalTarget(), names)
		var fe *provision.ForeignIntentsError
		if errors.As(err, &fe) && !writes {
			s.log.Warn().Str("journal", reportPath+".journal").Msgf("%v: an apply with this report path refuses until that set's apply has finished them", err)
		} else if errors.As(err, &fe) {
			return provision.Plan{}, invalidf("%s: %v; nothing was sent", reportPath+".journal", err).
				withHint("rerun the apply of %s with --report %s first: it looks them up and finishes them; or give this run its own --report PATH", fe.Target, reportPath)
		}
		for name, id := range s.previousReport(reportPath) {
			if _, ok := rec.Known[name]; !ok {
				rec.Known[name] = id
			}
		}
		if len(rec.Pending) > 0 {
			s.log.Info().Int("pending", len(rec.Pending)).Msg("an earlier run was interrupted with creates in flight: looking them up")
		}
	}
	remote, recovered, err := s.run.ReadRemote(ctx, s.m.Set, rec)
	if err != nil {
		return provision.Plan{}, s.fatal(ctx, err)
	}
	s.remote, s.recovered = remote, recovered
	tokens := make([]string, len(remote))
	for i := range remote {
		tokens[i] = remote[i].Token.Reveal()
	}
	s.redactor.add(tokens...)
	return provision.MakePlan(s.m.Set, s.m.Target.Platform, s.accounts, remote, provision.PlanOptions{Prune: prune, Owns: s.sel.Owns}), nil
}

// journalTarget names what this session's journal records concern. The
// emulator listens on a new port each run, so emulated runs share one name.
func (s *session) journalTarget() provision.JournalTarget {
	t := provision.JournalTarget{Set: s.m.Set, Platform: string(s.m.Target.Platform), BaseURL: s.baseURL}
	if s.emu != nil {
		t.BaseURL = "emulated"
	}
	return t
}

// previousReport returns the instance ids the report at path recorded, when
// it was written for this session's set, platform and base URL.
func (s *session) previousReport(path string) map[string]string {
	data, err := safefile.ReadFile(path, maxReport)
	if err != nil {
		return nil
	}
	var rep provision.Report
	if json.Unmarshal(data, &rep) != nil {
		s.log.Warn().Str("report", path).Msg("the previous report is unreadable: not used")
		return nil
	}
	run := rep.Run
	if run.Set != s.m.Set || run.Platform != string(s.m.Target.Platform) || (run.BaseURL != s.baseURL && s.emu == nil) {
		return nil
	}
	return rep.KnownInstances()
}

// fatal turns an error that stopped the command before any change (the
// platform could not be read) into the error it exits with: 4, aborted, or
// 130/143 when an interrupt stopped the reading.
func (s *session) fatal(ctx context.Context, err error) error {
	if ctx.Err() != nil && (provision.Classify(err) == provision.Canceled || errors.Is(err, context.Canceled)) {
		return errInterrupted(ctx).withHint("nothing was changed; rerun the same command")
	}
	e := newCLIError(exitAborted, fmt.Errorf("%s; nothing was changed", s.scrub(err.Error())))
	switch {
	case provision.Classify(err) == provision.Systemic:
		e.withHint("%s", credentialHint(s.m))
	case provision.Unreachable(err):
		e.err = fmt.Errorf("the platform is unreachable: %s; nothing was changed", s.scrub(err.Error()))
		e.withHint("check target.baseURL in the manifest (%s), the network and any proxy", s.baseURL)
		if u, perr := url.Parse(s.baseURL); perr == nil && isLoopback(u.Hostname()) && s.emu == nil {
			e.withHint("nothing listens on %s: start the emulator with 'hubprov emulate', or pass --emulate", u.Host)
		}
	case throttledOrOverloaded(err):
		e.withHint("the platform at %s kept answering 429 or 503 (throttled or overloaded) until the attempts ran out; rerun later, or lower --parallelism or set --rate", s.baseURL)
	case provision.Classify(err) == provision.Transient:
		e.withHint("the platform at %s did not answer in time or at all; check the base URL and the network, or raise --request-timeout or --max-attempts", s.baseURL)
	}
	return e
}

// throttledOrOverloaded reports whether err is the platform's 429 or 503: it
// answered, but asked the run to slow down.
func throttledOrOverloaded(err error) bool {
	var ae *provision.APIError
	return errors.As(err, &ae) && (ae.Status == http.StatusTooManyRequests || ae.Status == http.StatusServiceUnavailable)
}

// credentialHint names where the rejected credentials came from.
func credentialHint(m *manifest.Manifest) string {
	c := m.Target.Credentials
	if m.Target.Platform == manifest.AdobeFlow {
		return fmt.Sprintf("the platform rejected the credentials: check target.credentials.accessToken (%s), apiKey (%s), imsOrg and sandbox; IMS access tokens last 24 hours",
			c.AccessToken.Describe(), c.APIKey.Describe())
	}
	return fmt.Sprintf("the platform rejected the credentials: check the user secret (%s) and the organization secret (%s) in target.credentials",
		c.User.Describe(), c.Organization.Describe())
}
