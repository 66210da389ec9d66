package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/hubprov/hubprov/provision/emulator"
)

func runEmulate(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet("emulate", "hubprov emulate [flags]",
		`Serves a local emulator of the Cloud Elements / Open Connectors and Flow Service APIs, with
fault injection, until interrupted (Ctrl-C). It prints the base URLs and the credentials it accepts.
Counters are served at /_emulator/stats.`, env)
	addr := fs.String("addr", "127.0.0.1:8080", "`host:port` to listen on; port 0 picks a free one")
	allowRemote := fs.Bool("allow-remote", false, "allow a non-loopback --addr (the emulator has no real security)")
	var opts emulator.Options
	fs.StringVar(&opts.User, "user", "demo-user", "Cloud Elements / Open Connectors user secret accepted")
	fs.StringVar(&opts.Organization, "organization", "demo-org", "Cloud Elements / Open Connectors organization secret accepted")
	fs.StringVar(&opts.FlowToken, "flow-token", "demo-token", "Flow Service IMS access token accepted (Authorization: Bearer)")
	fs.StringVar(&opts.FlowAPIKey, "flow-api-key", "demo-key", "Flow Service API key accepted (x-api-key)")
	fs.StringVar(&opts.FlowIMSOrg, "flow-ims-org", "demo@AdobeOrg", "Flow Service IMS org accepted (x-gw-ims-org-id); any x-sandbox-name is accepted")
	fs.Int64Var(&opts.Seed, "seed", 1, "seed of the fault and jitter randomness")
	fs.DurationVar(&opts.Latency, "latency", 0, "latency added to every request, e.g. 50ms")
	fs.DurationVar(&opts.Jitter, "jitter", 0, "random extra latency, uniform in [0, jitter)")
	fs.DurationVar(&opts.ListLag, "list-lag", 0, "lists lag behind writes by `D` (a create shows D after it, a delete too), as search-backed lists do; reads by id stay current")
	rateLimit := fs.String("rate-limit", "", "server rate limit `N/D`, e.g. 100/10s: a token bucket refilled at N per D (or a window with --window or --rolling); excess requests get 429 with Retry-After")
	fs.IntVar(&opts.Burst, "burst", 0, "tokens the --rate-limit bucket holds (1 or more; 0: N)")
	fs.BoolVar(&opts.Window, "window", false, "make --rate-limit a fixed window (HubSpot's burst limit): N requests per D, then 429 with Retry-After the time to the window's end")
	fs.BoolVar(&opts.Rolling, "rolling", false, "make --rate-limit a rolling window (HubSpot's TEN_SECONDLY_ROLLING): at most N requests in any D, then 429 with Retry-After the time until the oldest of them is D old")
	fs.BoolVar(&opts.Announce, "announce", false, "announce --rate-limit in every response: X-HubSpot-RateLimit-Max/-Interval-Milliseconds/-Remaining and IETF RateLimit-Policy/RateLimit")
	fs.IntVar(&opts.MaxInFlight, "max-in-flight", 0, "an overloaded upstream: a request arriving while `N` are being served gets 503 at once (0: off)")
	fs.Float64Var(&opts.Faults.Rate500, "fail-rate", 0, "probability of a 500 answer, every operation")
	fs.Float64Var(&opts.Faults.Rate503, "unavailable-rate", 0, "probability of a 503 answer, every operation")
	fs.Float64Var(&opts.Faults.Rate429, "throttle-rate", 0, "probability of a 429 answer, every operation")
	fs.DurationVar(&opts.Faults.RetryAfter, "retry-after", 0, "Retry-After sent with the injected 429s, rounded up to whole seconds (0: none)")
	fs.BoolVar(&opts.NoRetryAfter, "no-retry-after", false, "the --rate-limit's 429s carry no Retry-After (Cloud Elements documents none)")
	fs.BoolVar(&opts.RetryAfterDate, "retry-after-date", false, "send every Retry-After as an HTTP date, truncated to its second, instead of delta-seconds")
	fs.Float64Var(&opts.Faults.Reset, "reset-rate", 0, "probability of a connection reset before handling, every operation")
	fs.Float64Var(&opts.Faults.LostResponse, "lost-rate", 0, "probability of a lost response: the request is performed (a create commits), then the connection reset")
	var opFaults stringList
	fs.Var(&opFaults, "fault", "per-operation fault `OP:KIND=P` (repeatable), overriding the rate flags for that operation;\nOP: create, list, get, update, delete, oauth-url; KIND: 429, 500, 503, reset, lost")
	var lf logFlags
	lf.register(fs)
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return unexpectedArg(fs.Arg(0), "")
	}
	usageErr := func(err error) error {
		var ce *cliError
		if errors.As(err, &ce) {
			return err
		}
		return invalidf("%v", err)
	}
	if err := checkLoopback(*addr, *allowRemote); err != nil {
		return usageErr(err)
	}
	if *rateLimit != "" {
		n, per, err := parseRateLimit(*rateLimit)
		if err != nil {
			return usageErr(err)
		}
		opts.RateLimit, opts.RatePer = n, per
	}
	if err := checkFaults("", opts.Faults); err != nil {
		return usageErr(err)
	}
	for _, spec := range opFaults {
		op, f, err := parseOpFault(spec, opts.Faults, opts.OpFaults)
		if err != nil {
			return usageErr(err)
		}
		if opts.OpFaults == nil {
			opts.OpFaults = map[emulator.Op]emulator.Faults{}
		}
		opts.OpFaults[op] = f
	}
	for op, f := range opts.OpFaults {
		if err := checkFaults(string(op), f); err != nil {
			return usageErr(err)
		}
	}
	if opts.Burst < 0 || opts.MaxInFlight < 0 {
		return usageErr(errors.New("--burst and --max-in-flight must not be negative"))
	}
	if (opts.Burst > 0 || opts.Window || opts.Rolling || opts.Announce || opts.NoRetryAfter) && opts.RateLimit == 0 {
		return usageErr(errors.New("--burst, --window, --rolling, --announce and --no-retry-after shape --rate-limit: give it too"))
	}
	if opts.Window && opts.Rolling {
		return usageErr(errors.New("--window and --rolling are two kinds of window: give one"))
	}
	if opts.Burst > 0 && (opts.Window || opts.Rolling) {
		return usageErr(errors.New("--burst is the token bucket's; a window has none"))
	}
	if opts.Latency < 0 || opts.Jitter < 0 {
		return usageErr(errors.New("--latency and --jitter must not be negative"))
	}

	srv, err := emulator.Start(*addr, emulator.New(opts))
	if err != nil {
		return failuresf("%v", err)
	}
	fmt.Fprintf(env.stdout, `hubprov emulator listening on %s
Cloud Elements:   %s
Open Connectors:  %s
Flow Service:     %s
Stats:            %s
Credentials accepted:
  Cloud Elements / Open Connectors: Authorization: User %s, Organization %s
  Flow Service: Authorization: Bearer %s; x-api-key: %s; x-gw-ims-org-id: %s; x-sandbox-name: any
`, srv.Addr(), srv.CloudElementsURL(), srv.CloudElementsURL(), srv.FlowServiceURL(), srv.StatsURL(),
		opts.User, opts.Organization, opts.FlowToken, opts.FlowAPIKey, opts.FlowIMSOrg)
	env.log.Info().Msg("serving; press Ctrl-C to stop")
	<-ctx.Done()
	env.log.Info().Msg("stopping")
	if err := srv.Close(); err != nil {
		return failuresf("%v", err)
	}
	return nil
}

// checkLoopback refuses a listen address that is not loopback unless allowed.
func checkLoopback(addr string, allow bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--addr %q: %w", addr, err)
	}
	if allow || host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return invalidf("--addr %q is not a loopback address", addr).withHint("pass --allow-remote to serve the emulator beyond this machine")
}

// parseRateLimit parses N/D, e.g. 100/10s (D defaults to 1s when only N is given: "100" is 100/1s).
func parseRateLimit(s string) (int, time.Duration, error) {
	ns, ds, hasD := strings.Cut(s, "/")
	n, err := strconv.Atoi(ns)
	if err != nil || n < 0 {
		return 0, 0, fmt.Errorf("--rate-limit %q: want N/D such as 100/10s", s)
	}
	per := time.Second
	if hasD {
		if ds != "" && (ds[0] < '0' || ds[0] > '9') {
			ds = "1" + ds // "100/s"
		}
		if per, err = time.ParseDuration(ds); err != nil || per <= 0 {
			return 0, 0, fmt.Errorf("--rate-limit %q: want N/D such as 100/10s", s)
		}
	}
	return n, per, nil
}

// parseOpFault parses OP:KIND=P; the operation's faults start from those
// already set for it, else from the global ones.
func parseOpFault(spec string, global emulator.Faults, have map[emulator.Op]emulator.Faults) (emulator.Op, emulator.Faults, error) {
	bad := func(why string) error {
		return fmt.Errorf("--fault %q: %s (want OP:KIND=P, e.g. create:lost=0.1)", spec, why)
	}
	opKind, ps, ok := strings.Cut(spec, "=")
	opS, kind, ok2 := strings.Cut(opKind, ":")
	if !ok || !ok2 {
		return "", emulator.Faults{}, bad("malformed")
	}
	op := emulator.Op(opS)
	known := false
	for _, o := range emulator.Ops {
		known = known || o == op
	}
	if !known {
		return "", emulator.Faults{}, bad("unknown operation " + opS)
	}
	p, err := strconv.ParseFloat(ps, 64)
	if err != nil {
		return "", emulator.Faults{}, bad("bad probability " + ps)
	}
	f, ok := have[op]
	if !ok {
		f = global
	}
	switch kind {
	case "429":
		f.Rate429 = p
	case "500":
		f.Rate500 = p
	case "503":
		f.Rate503 = p
	case "reset":
		f.Reset = p
	case "lost":
		f.LostResponse = p
	default:
		return "", emulator.Faults{}, bad("unknown kind " + kind)
	}
	return op, f, nil
}

// checkFaults checks every probability is in [0, 1] and their sum at most 1.
func checkFaults(op string, f emulator.Faults) error {
	sum := 0.0
	for _, p := range []float64{f.Rate429, f.Rate500, f.Rate503, f.Reset, f.LostResponse} {
		if p < 0 || p > 1 {
			return fmt.Errorf("fault probability %v out of [0, 1]", p)
		}
		sum += p
	}
	if sum > 1+1e-9 {
		if op != "" {
			return fmt.Errorf("fault probabilities of %s sum to %v, more than 1", op, sum)
		}
		return fmt.Errorf("fault probabilities sum to %v, more than 1", sum)
	}
	return nil
}
