package main

import (
	"context"

	"github.com/hubprov/hubprov/schema"
)

func runSchema(_ context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet("schema", "hubprov schema",
		"Prints the manifest's JSON Schema (draft 2020-12), the one built into hubprov. Editors that\n"+
			"read a '# yaml-language-server: $schema=...' comment complete and check manifests with it.", env)
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return unexpectedArg(fs.Arg(0), "")
	}
	if _, err := env.stdout.Write(schema.JSON()); err != nil {
		return failuresf("%v", err)
	}
	return nil
}
