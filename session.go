package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

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
	files     stringList
	selectors stringList
	shard     string
	logFormat string
	logLevel  string
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.Var(&c.files, "f", "manifest file or folder (all *.yaml and *.yml inside); repeatable")
	fs.Var(&c.selectors, "select", "only accounts whose name matches NAME or GLOB (path.Match syntax); repeatable")
	fs.StringVar(&c.shard, "shard", "", "only shard `i/n` of the accounts (a stable hash partition, i from 0), for n parallel jobs")
	fs.StringVar(&c.logFormat, "log-format", "", "log format on stderr: console or json (default: console on a terminal, json otherwise)")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
}

// selection decides which accounts a run manages: --select and --shard.
type selection struct {
	globs    []string
	shard, n uint64
}

func (c *commonFlags) selection() (selection, error) {
	s := selection{globs: c.selectors, n: 1}
	for _, g := range s.globs {
		if _, err := path.Match(g, ""); err != nil {
			return s, fmt.Errorf("--select %q: %w", g, err)
		}
	}
	if c.shard != "" {
		i, n, ok := strings.Cut(c.shard, "/")
		iv, err1 := strconv.ParseUint(i, 10, 32)
		nv, err2 := strconv.ParseUint(n, 10, 32)
		if !ok || err1 != nil || err2 != nil || nv == 0 || iv >= nv {
			return s, fmt.Errorf("--shard %q: want i/n with 0 <= i < n, for example 0/4", c.shard)
		}
		s.shard, s.n = iv, nv
	}
	return s, nil
}

// owns reports whether this run manages the account or instance named name.
func (s selection) owns(name string) bool {
	if s.n > 1 && shardOf(name, s.n) != s.shard {
		return false
	}
	if len(s.globs) == 0 {
		return true
	}
	for _, g := range s.globs {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}

// shardOf is the stable shard of a name: FNV-1a, modulo n.
func shardOf(name string, n uint64) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64() % n
}

// session is a loaded, resolved manifest and the platform it targets.
type session struct {
	m        *manifest.Manifest
	accounts []manifest.Account // selected
	sel      selection
	baseURL  string
	pf       provision.Platform
	hc       *http.Client
	log      zerolog.Logger
	scrub    func(string) string
	redactor *redactor
	emu      *emulated // nil unless --emulate
}

// close stops what the session started: the emulator, saving its state.
func (s *session) close(env *cmdEnv) {
	if s.hc != nil {
		s.hc.CloseIdleConnections()
	}
	if s.emu != nil {
		if err := s.emu.close(); err != nil {
			fmt.Fprintf(env.stderr, "hubprov: emulator: %v\n", err)
		}
	}
}

// loadManifest loads and checks the manifest files, printing problems to stderr.
// It returns exitInvalid when the manifest is unusable.
func loadManifest(env *cmdEnv, c *commonFlags, resolve bool) (*manifest.Manifest, int) {
	if len(c.files) == 0 {
		fmt.Fprintln(env.stderr, "hubprov: no manifest given\nhint: pass one or more -f FILE_OR_FOLDER")
		return nil, exitInvalid
	}
	m, problems := manifest.Load(c.files)
	errs := 0
	for _, p := range problems {
		if p.Severity == manifest.Error {
			errs++
			fmt.Fprintln(env.stderr, p.String())
			if p.Hint != "" {
				fmt.Fprintf(env.stderr, "    hint: %s\n", p.Hint)
			}
		}
	}
	if m == nil || errs > 0 {
		noun := "errors"
		if errs == 1 {
			noun = "error"
		}
		fmt.Fprintf(env.stderr, "hubprov: the manifest is invalid (%d %s); nothing was sent\nhint: run 'hubprov validate' for every problem, warnings included\n", errs, noun)
		return nil, exitInvalid
	}
	if resolve {
		if problems := m.Resolve(env.getenv); len(problems) > 0 {
			for _, p := range problems {
				fmt.Fprintln(env.stderr, p.String())
				if p.Hint != "" {
					fmt.Fprintf(env.stderr, "    hint: %s\n", p.Hint)
				}
			}
			if manifest.HasErrors(problems) {
				fmt.Fprintln(env.stderr, "hubprov: some secret references cannot be resolved; nothing was sent")
				return nil, exitInvalid
			}
		}
	}
	return m, exitOK
}

// openSession loads the manifest, resolves its secrets and builds the platform
// client. With emulate, it starts the built-in emulator, accepting the
// manifest's credentials, and targets it instead of the manifest's base URL.
func openSession(env *cmdEnv, c *commonFlags, parallelism int, emulate bool) (*session, int) {
	sel, err := c.selection()
	if err != nil {
		fmt.Fprintf(env.stderr, "hubprov: %v\n", err)
		return nil, exitInvalid
	}
	m, code := loadManifest(env, c, true)
	if m == nil {
		return nil, code
	}
	s := &session{m: m, sel: sel}
	s.redactor = newRedactor(m)
	s.scrub = s.redactor.scrub
	s.log, err = newLogger(env, c.logFormat, c.logLevel, s.redactor)
	if err != nil {
		fmt.Fprintf(env.stderr, "hubprov: %v\n", err)
		return nil, exitInvalid
	}
	for _, a := range m.Accounts {
		if sel.owns(a.Name) {
			s.accounts = append(s.accounts, a)
		}
	}
	s.baseURL = m.Target.BaseURL
	if s.baseURL == "" {
		s.baseURL = defaultBaseURL[m.Target.Platform]
	}
	if emulate {
		s.emu, err = startEmulated(m, s.log)
		if err != nil {
			fmt.Fprintf(env.stderr, "hubprov: start the emulator: %v\n", err)
			return nil, exitInvalid
		}
		s.baseURL = s.emu.baseURL(m.Target.Platform)
	}
	if err := checkBaseURL(s.baseURL); err != nil {
		fmt.Fprintf(env.stderr, "hubprov: %v\n", err)
		return nil, exitInvalid
	}
	s.hc = newHTTPClient(parallelism)
	switch m.Target.Platform {
	case manifest.AdobeFlow:
		s.pf = flowservice.New(s.baseURL, s.hc, m.Target.Credentials)
	default:
		s.pf = cloudelements.New(s.baseURL, s.hc, m.Target.Credentials, m.Target.Platform)
	}
	return s, exitOK
}

// checkBaseURL refuses anything but https, except http to a loopback host.
func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("base URL %q is not an absolute URL", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		h := u.Hostname()
		if h == "localhost" {
			return nil
		}
		if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
			return nil
		}
		return fmt.Errorf("base URL %q uses http:// to a host that is not loopback: credentials would cross the network in clear\nhint: use https://", raw)
	default:
		return fmt.Errorf("base URL %q: scheme must be https", raw)
	}
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

// readRemote reads the platform's instances of the set and plans.
func (s *session) plan(ctx context.Context, env *cmdEnv, prune bool, journalPath string) (provision.Plan, int) {
	var pending []string
	if journalPath != "" {
		recs, err := provision.ReadJournal(journalPath)
		if err != nil {
			fmt.Fprintf(env.stderr, "hubprov: %v\nhint: move the journal aside if it is not this run's\n", err)
			return provision.Plan{}, exitInvalid
		}
		pending = provision.PendingCreates(recs)
		if len(pending) > 0 {
			s.log.Info().Int("pending", len(pending)).Msg("an earlier run was interrupted with creates in flight: looking them up")
		}
	}
	remote, err := provision.ReadRemote(ctx, s.pf, s.m.Set, pending, provision.Options{Log: s.log, Scrub: s.scrub})
	if err != nil {
		return provision.Plan{}, s.reportFatal(env, err)
	}
	tokens := make([]string, len(remote))
	for i := range remote {
		tokens[i] = remote[i].Token.Reveal()
	}
	s.redactor.add(tokens...)
	return provision.MakePlan(s.m.Set, s.m.Target.Platform, s.accounts, remote, provision.PlanOptions{Prune: prune, Owns: s.sel.owns}), exitOK
}

// reportFatal prints an error that stops the command and returns its exit code.
func (s *session) reportFatal(env *cmdEnv, err error) int {
	fmt.Fprintf(env.stderr, "hubprov: %s\n", s.scrub(err.Error()))
	switch provision.Classify(err) {
	case provision.Systemic:
		fmt.Fprintln(env.stderr, credentialHint(s.m))
		return exitAborted
	case provision.Canceled:
		return exitAborted
	}
	if errors.Is(err, context.Canceled) {
		return exitAborted
	}
	return exitFailures
}

// credentialHint names where the rejected credentials came from.
func credentialHint(m *manifest.Manifest) string {
	c := m.Target.Credentials
	if m.Target.Platform == manifest.AdobeFlow {
		return fmt.Sprintf("hint: the platform rejected the credentials: check target.credentials.accessToken (%s), apiKey (%s), imsOrg and sandbox; IMS access tokens last 24 hours",
			c.AccessToken.Describe(), c.APIKey.Describe())
	}
	return fmt.Sprintf("hint: the platform rejected the credentials: check the user secret (%s) and the organization secret (%s) in target.credentials",
		c.User.Describe(), c.Organization.Describe())
}
