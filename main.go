// Command hubprov provisions HubSpot connector instances in bulk, declaratively,
// from manifests reviewed in git. See README.md.
package main

import (
	"context"
	"flag"
	"io"
	"os"

	"github.com/rs/zerolog"

	"github.com/hubprov/hubprov/manifest"
)

// Exit codes, the same for every command (README "Exit codes"). exitCode in
// tui.go is the one switch that picks them.
const (
	exitOK       = 0 // success; plan: no changes, or changes without --detailed-exitcode
	exitFailures = 1 // some accounts failed, the rest done
	exitChanges  = 2 // plan --detailed-exitcode: changes pending
	exitInvalid  = 3 // invalid manifest or usage, or the report is locked by another run: nothing was sent
	exitAborted  = 4 // credentials rejected, platform unreachable, failure budget exceeded, journal or report unwritable
	// 128 + the signal: interrupted by SIGINT (130) or SIGTERM (143); see signals.go
	exitSIGINT  = 130
	exitSIGTERM = 143
)

// A command is one hubprov subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *cmdEnv, args []string) error
}

// commands lists every subcommand in the order --help shows them.
var commands = []command{
	{"validate", "check manifests against the schema and the domain rules", runValidate},
	{"schema", "print the manifest JSON Schema", runSchema},
	{"plan", "show what apply would change, reading the platform", runPlan},
	{"apply", "create, update and (with --prune) delete instances to match the manifest", runApply},
	{"destroy", "delete the instances of this set that the manifest lists", runDestroy},
	{"authorize-urls", "print the consent URL of each oauth2 account without a code", runAuthorizeURLs},
	{"consent", "serve the OAuth redirect URI: create each oauth2 account's instance when its owner approves", runConsent},
	{"report", "work with report files: merge the reports of shards into one", runReport},
	{"emulate", "serve a local emulator of the three platform APIs", runEmulate},
	{"completion", "print a shell completion script: bash, zsh or fish", runCompletion},
	{"version", "print version, commit and Go version", runVersion},
}

func main() {
	ctx, stop := interrupts()
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// cmdEnv is what every command gets from the process: its streams and
// environment, the one logger, and the ui that prints its errors.
type cmdEnv struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	log            zerolog.Logger
	ui             *ui
	redactor       *redactor // every known secret value, scrubbed from stderr
	// abandon is done at a second interrupt: requests in flight are cut off.
	abandon context.Context
	// flagSet is the flag set the command made last (completion reads it).
	flagSet *flag.FlagSet
}

// run runs the command args name and returns the process's exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	env := newEnv(args, stdin, stdout, stderr)
	env.abandon = abandonOf(ctx)
	if len(args) == 0 {
		usage(env.stderr)
		return exitInvalid
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 {
			if c := lookup(args[1]); c != nil {
				return env.ui.exit(c.name, c.run(ctx, env, []string{"--help"}))
			}
		}
		usage(stdout)
		return exitOK
	case "-v", "--version":
		name = "version"
	}
	c := lookup(name)
	if c == nil {
		var names []string
		for _, c := range commands {
			names = append(names, c.name)
		}
		e := invalidf("unknown command %q", name)
		if s := manifest.Closest(name, names); s != "" {
			e.withHint("did you mean 'hubprov %s'?", s)
		}
		return env.ui.exit("", e.withHint("run 'hubprov --help' for the commands"))
	}
	return env.ui.exit(c.name, c.run(ctx, env, args[1:]))
}

func lookup(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

func usage(w io.Writer) {
	_, _ = io.WriteString(w, `hubprov provisions HubSpot connector instances in bulk from reviewed manifests.

Usage:
  hubprov <command> [flags]

Commands:
`)
	for _, c := range commands {
		_, _ = io.WriteString(w, "  "+padRight(c.name, 15)+" "+c.summary+"\n")
	}
	_, _ = io.WriteString(w, `
Run 'hubprov <command> --help' for a command's flags.

`+exitCodesHelp)
}

func padRight(s string, n int) string {
	for len(s) < n {
		s += " "
	}
	return s
}
