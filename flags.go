package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/hubprov/hubprov/manifest"
)

// errHelp is returned by parseFlags after --help printed the usage: exit 0.
var errHelp = exitStatus(exitOK)

// newFlagSet returns a flag set whose --help prints usage, the description,
// every flag with two dashes, and the exit codes.
func newFlagSet(name, usageLine, description string, env *cmdEnv) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	env.flagSet = fs
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "Usage: %s\n\n%s\n", usageLine, description)
		printFlags(out, fs)
		fmt.Fprint(out, "\n"+exitCodesHelp)
	}
	return fs
}

// printFlags lists the flags of fs as the README shows them: --name VALUE
// (one-letter flags with one dash, -f), then the usage text and default,
// indented below. flag.PrintDefaults shows every flag with one dash.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	first := true
	fs.VisitAll(func(f *flag.Flag) {
		if first {
			fmt.Fprint(w, "\nFlags:\n")
			first = false
		}
		arg, usage := flag.UnquoteUsage(f)
		switch arg { // flag's type names, in the README's style
		case "value", "string":
			arg = "VALUE"
		case "int", "uint", "int64":
			arg = "N"
		case "float":
			arg = "NUM"
		case "duration":
			arg = "D"
		}
		name := "--" + f.Name
		if len(f.Name) == 1 {
			name = "-" + f.Name
		}
		line := "  " + name
		if arg != "" {
			line += " " + arg
		}
		usage = strings.ReplaceAll(usage, "\n", "\n      ")
		if d := f.DefValue; d != "" && d != "0" && d != "0s" && d != "false" && d != "[]" && !strings.Contains(usage, "(default") {
			if _, isString := f.Value.(interface{ IsBoolFlag() bool }); !isString {
				usage += fmt.Sprintf(" (default %s)", d)
			}
		}
		fmt.Fprintf(w, "%s\n      %s\n", line, usage)
	})
}

// flagSetNames lists the names of the flags of fs, for "did you mean".
func flagSetNames(fs *flag.FlagSet) []string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	return names
}

// flagError turns the flag package's parse error into hubprov's wording:
// two dashes, a "did you mean" for a mistyped flag, a unit for a duration.
func flagError(fs *flag.FlagSet, err error) error {
	msg := err.Error()
	hint := fmt.Sprintf("run 'hubprov %s --help' for its flags", fs.Name())
	dashes := func(name string) string {
		if len(name) == 1 {
			return "-" + name
		}
		return "--" + name
	}
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		name = strings.TrimLeft(name, "-")
		e := invalidf("unknown flag %s", dashes(name))
		if s := manifest.Closest(name, flagSetNames(fs)); s != "" {
			return e.withHint("did you mean %s? %s", dashes(s), hint)
		}
		return e.withHint("%s", hint)
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		name = strings.TrimLeft(name, "-")
		return invalidf("%s needs a value", dashes(name)).withHint("%s", hint)
	}
	// invalid value "5" for flag -request-timeout: parse error
	var val, name string
	if n, _ := fmt.Sscanf(msg, "invalid value %q for flag -%s", &val, &name); n == 2 {
		name = strings.TrimSuffix(strings.TrimLeft(name, "-"), ":")
		e := invalidf("%s %q: %s", dashes(name), val, invalidWhy(msg))
		if f := fs.Lookup(name); f != nil {
			if g, ok := f.Value.(flag.Getter); ok {
				if _, isDur := g.Get().(time.Duration); isDur {
					if _, perr := strconv.ParseFloat(val, 64); perr == nil {
						return e.withHint("a duration takes a unit: %s %ss (or %sms, %sm)", dashes(name), val, val, val)
					}
					return e.withHint("a duration is a number and a unit, such as 30s, 500ms or 2m")
				}
			}
		}
		return e.withHint("%s", hint)
	}
	return invalidf("%s", msg).withHint("%s", hint)
}

// invalidWhy is the reason after "invalid value ... for flag -x: ".
func invalidWhy(msg string) string {
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		why := msg[i+2:]
		switch why {
		case "parse error":
			return "not a valid value"
		}
		return why
	}
	return "not a valid value"
}

// exitCodesHelp is the exit code list every command's --help ends with.
const exitCodesHelp = `Exit codes:
  0    success (plan: no changes, or changes without --detailed-exitcode)
  1    some accounts failed (or are unhealthy, or pending), the rest done
  2    plan --detailed-exitcode: changes pending
  3    invalid manifest or usage, or another run holds the report: nothing was sent
  4    aborted: platform credentials rejected, platform unreachable, failure budget
       exceeded, or the journal or report could not be written
  130  interrupted by SIGINT (Ctrl-C): the report is written, a rerun finishes the work
  143  interrupted by SIGTERM: the same
`

// parseFlags parses args. It returns errHelp after --help (usage went to
// stdout), or a usage error (exit 3).
func parseFlags(fs *flag.FlagSet, env *cmdEnv, args []string) error {
	help := false
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" {
			help = true
		}
	}
	if help {
		fs.SetOutput(env.stdout)
		fs.Usage()
		return errHelp
	}
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	// Flags may follow positional arguments ("apply plan.json --emulate"):
	// parse, set the first argument aside, parse the rest, until none is left.
	var positional []string
	for {
		err := fs.Parse(args)
		if err != nil {
			return flagError(fs, err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			positional = append(positional, rest...) // after "--", everything is an argument
			break
		}
		positional, args = append(positional, rest[0]), rest[1:]
	}
	_ = fs.Parse(append([]string{"--"}, positional...))
	return nil
}

// unexpectedArg is the usage error for an argument a command does not take.
func unexpectedArg(arg, hint string) error {
	e := invalidf("unexpected argument %q", arg)
	if hint != "" {
		e.withHint("%s", hint)
	}
	return e
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

func (s *stringList) Set(v string) error {
	*s = append(*s, v)
	return nil
}
