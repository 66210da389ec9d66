package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
)

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

// parseFlags parses args. When it returns ok false, the command returns code:
// exitOK after --help (usage went to stdout), exitInvalid after a usage error.
func parseFlags(fs *flag.FlagSet, env *cmdEnv, args []string) (code int, ok bool) {
	help := false
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" {
			help = true
			fs.SetOutput(env.stdout)
		}
	}
	if !help {
		// After a usage error, a pointer to the help rather than all of it.
		fs.Usage = func() { fmt.Fprintf(fs.Output(), "Run 'hubprov %s --help' for its flags.\n", fs.Name()) }
	}
	// Flags may follow positional arguments ("apply plan.json --emulate"):
	// parse, set the first argument aside, parse the rest, until none is left.
	var positional []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		if err != nil {
			return exitInvalid, false
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
	return 0, true
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

func (s *stringList) Set(v string) error {
	*s = append(*s, v)
	return nil
}
