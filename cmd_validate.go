package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/hubprov/hubprov/manifest"
)

func runValidate(_ context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet("validate", "hubprov validate -f FILE|FOLDER [-f ...] [--format text|json|github] [--resolve-secrets] [--strict]",
		"Checks manifests against the JSON Schema and the domain rules, and reports every problem at once\n"+
			"as file:line:col. Sends nothing anywhere. Exit 0 when valid (warnings allowed), 3 when invalid.", env)
	var files stringList
	fs.Var(&files, "f", "a manifest `FILE|FOLDER` (its *.yaml and *.yml files); repeatable; the files of one set form one run")
	format := fs.String("format", "text", "output `FORMAT`: text (file:line:col: severity: message, then a hint), json (an array), github (workflow annotations)")
	resolve := fs.Bool("resolve-secrets", false, "also resolve every {env: NAME} and {file: PATH} secret reference, as plan and apply do")
	secretsDir := fs.String("secrets-dir", "", "with --resolve-secrets, also read {file: PATH} secrets with an absolute PATH under `DIR`, as plan and apply do")
	strict := fs.Bool("strict", false, "treat warnings as errors (exit 3)")
	var lf logFlags
	lf.register(fs)
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return unexpectedArg(fs.Arg(0), "manifests are given with -f")
	}
	switch *format {
	case "text", "json", "github":
	default:
		return invalidf("--format %q: want text, json or github", *format)
	}
	if len(files) == 0 {
		return errNoManifest()
	}

	// Each set is its own run, so a folder of independent manifests validates too.
	var probs []manifest.Problem
	var order []string // every file, in the order of the runs
	accounts, nfiles := 0, 0
	for _, run := range manifest.Runs(files) {
		m, ps := manifest.Load(run)
		if m != nil && *resolve {
			ps = append(ps, m.Resolve(env.getenv, *secretsDir)...)
		}
		if m != nil {
			accounts += len(m.Accounts)
			nfiles += len(m.Files)
			for _, f := range m.Files {
				order = append(order, f.Path)
			}
		}
		probs = append(probs, ps...)
	}
	probs = manifest.SortProblems(probs, order)
	if *strict {
		for i := range probs {
			probs[i].Severity = manifest.Error
		}
	}
	writeProblems(env.stdout, *format, probs)
	errs, warns := 0, 0
	for _, p := range probs {
		if p.Severity == manifest.Error {
			errs++
		} else {
			warns++
		}
	}
	if errs > 0 {
		env.ui.note("invalid: %d %s, %d %s", errs, plural(errs, "error"), warns, plural(warns, "warning"))
		return exitStatus(exitInvalid)
	}
	env.ui.note("valid: %d %s in %d %s, %d %s", accounts, plural(accounts, "account"), nfiles, plural(nfiles, "file"), warns, plural(warns, "warning"))
	return nil
}

// jsonProblem is one problem in --format json.
type jsonProblem struct {
	File     string `json:"file"`
	Line     int    `json:"line"`
	Column   int    `json:"column"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
	Hint     string `json:"hint,omitempty"`
}

func writeProblems(w io.Writer, format string, probs []manifest.Problem) {
	switch format {
	case "json":
		out := make([]jsonProblem, 0, len(probs))
		for _, p := range probs {
			out = append(out, jsonProblem{p.Pos.File, p.Pos.Line, p.Pos.Col, p.Severity.String(), p.Message, p.Hint})
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
	case "github":
		for _, p := range probs {
			msg := p.Message
			if p.Hint != "" {
				msg += "\n" + "hint: " + p.Hint
			}
			fmt.Fprintf(w, "::%s file=%s,line=%d,col=%d::%s\n", p.Severity, ghProperty(p.Pos.File), max(p.Pos.Line, 1), max(p.Pos.Col, 1), ghData(msg))
		}
	default:
		for _, p := range probs {
			fmt.Fprintln(w, p.String())
			if p.Hint != "" {
				fmt.Fprintf(w, "    hint: %s\n", p.Hint)
			}
		}
	}
}

// ghData escapes a workflow command's message.
func ghData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// ghProperty escapes a workflow command's property value.
func ghProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
