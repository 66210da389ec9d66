package main

import (
	"context"
	"strings"

	"github.com/hubprov/hubprov/schema"
)

func runSchema(_ context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet("schema", "hubprov schema [manifest|report|plan|diagnostics]",
		"Prints a JSON Schema (draft 2020-12) built into hubprov: the manifest's (the default; editors that\n"+
			"read a '# yaml-language-server: $schema=...' comment complete and check manifests with it), or that of\n"+
			"an output: report (the --report file), plan (plan --json and --out) or diagnostics (validate --format json).", env)
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	name := "manifest"
	switch fs.NArg() {
	case 0:
	case 1:
		name = fs.Arg(0)
	default:
		return unexpectedArg(fs.Arg(1), "")
	}
	doc, ok := schema.Document(name)
	if !ok {
		return invalidf("unknown schema %q", name).withHint("one of %s", strings.Join(schema.Names, ", "))
	}
	if _, err := env.stdout.Write(doc); err != nil {
		return failuresf("%v", err)
	}
	return nil
}
