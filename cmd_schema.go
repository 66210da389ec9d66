package main

import (
	"context"

	"github.com/hubprov/hubprov/schema"
)

func runSchema(_ context.Context, env *cmdEnv, args []string) int {
	fs := newFlagSet("schema", "hubprov schema",
		"Prints the manifest's JSON Schema (draft 2020-12), the one built into hubprov. Editors that\n"+
			"read a '# yaml-language-server: $schema=...' comment complete and check manifests with it.", env)
	if code, ok := parseFlags(fs, env, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return exitInvalid
	}
	if _, err := env.stdout.Write(schema.JSON()); err != nil {
		return exitInvalid
	}
	return exitOK
}
