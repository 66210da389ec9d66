package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// errHelp is returned by parseFlags after --help printed the usage: exit 0.
var errHelp = exitStatus(exitOK)

// newFlagSet returns a flag set whose --help prints usage, then the description, then every flag.
func newFlagSet(name, usageLine, description string, env *cmdEnv) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "Usage: %s\n\n%s\n", usageLine, description)
		var any bool
		fs.VisitAll(func(*flag.Flag) { any = true })
		if any {
			fmt.Fprint(out, "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

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
			return invalidf("%v", err).withHint("run 'hubprov %s --help' for its flags", fs.Name())
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
