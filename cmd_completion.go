package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/hubprov/hubprov/manifest"
)

// completable is the command list completion describes. It is set in init:
// commands names runCompletion, so runCompletion cannot name commands.
var completable []command

func init() { completable = commands }

func runCompletion(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet("completion", "hubprov completion bash|zsh|fish",
		`Prints a completion script for the shell, completing commands and each command's flags
(and file names where a flag takes a file):

  bash:  source <(hubprov completion bash)     (or save it in /etc/bash_completion.d/hubprov)
  zsh:   hubprov completion zsh > "${fpath[1]}/_hubprov"   (then restart zsh)
  fish:  hubprov completion fish > ~/.config/fish/completions/hubprov.fish`, env)
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return invalidf("want one shell: bash, zsh or fish").withHint("hubprov completion bash")
	}
	specs, err := commandSpecs(ctx, env)
	if err != nil {
		return err
	}
	switch shell := fs.Arg(0); shell {
	case "bash":
		writeBash(env.stdout, specs)
	case "zsh":
		writeZsh(env.stdout, specs)
	case "fish":
		writeFish(env.stdout, specs)
	default:
		e := invalidf("unknown shell %q: want bash, zsh or fish", shell)
		if s := manifest.Closest(shell, []string{"bash", "zsh", "fish"}); s != "" {
			e.withHint("did you mean %s?", s)
		}
		return e
	}
	return nil
}

// commandSpec is one command (or "report merge") as completion sees it.
type commandSpec struct {
	name, summary string
	flags         []flagSpec
}

// flagSpec is one flag as completion sees it.
type flagSpec struct {
	name, usage string
	takesValue  bool
	file        bool // its value is a file or folder
}

// commandSpecs asks each command for its flags: it runs the command's --help
// into io.Discard and reads the flag set the command made.
func commandSpecs(ctx context.Context, env *cmdEnv) ([]commandSpec, error) {
	var out []commandSpec
	for _, c := range completable {
		args := []string{"--help"}
		name := c.name
		if c.name == "report" {
			args, name = []string{"merge", "--help"}, "report" // its one subcommand's flags
		}
		quiet := *env
		quiet.stdout, quiet.stderr, quiet.flagSet = io.Discard, io.Discard, nil
		if c.name == "completion" {
			out = append(out, commandSpec{name: name, summary: c.summary})
			continue
		}
		_ = c.run(ctx, &quiet, args)
		spec := commandSpec{name: name, summary: c.summary}
		if quiet.flagSet != nil {
			quiet.flagSet.VisitAll(func(f *flag.Flag) {
				arg, usage := flag.UnquoteUsage(f)
				_, isBool := f.Value.(interface{ IsBoolFlag() bool })
				spec.flags = append(spec.flags, flagSpec{
					name: f.Name, usage: firstClause(usage), takesValue: !isBool,
					file: f.Name == "f" || strings.Contains(arg, "PATH") || strings.Contains(arg, "FILE"),
				})
			})
		}
		out = append(out, spec)
	}
	return out, nil
}

// firstClause shortens a flag's usage for a completion menu.
func firstClause(s string) string {
	s = strings.SplitN(s, "\n", 2)[0]
	if i := strings.IndexAny(s, ";("); i > 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

func writeBash(w io.Writer, specs []commandSpec) {
	var names []string
	for _, c := range specs {
		names = append(names, c.name)
	}
	fmt.Fprintf(w, `# bash completion for hubprov: source <(hubprov completion bash)
_hubprov() {
    local cur prev cmd flags files words
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    cmd="${COMP_WORDS[1]}"
    if [[ ${COMP_CWORD} -eq 1 ]]; then
        COMPREPLY=( $(compgen -W "%s" -- "${cur}") )
        return 0
    fi
    case "${cmd}" in
`, strings.Join(names, " "))
	for _, c := range specs {
		var flags, files []string
		for _, f := range c.flags {
			flags = append(flags, dashed(f.name))
			if f.file {
				files = append(files, dashed(f.name))
			}
		}
		extra := ""
		switch c.name {
		case "completion":
			extra = ` words="bash zsh fish"`
		case "report":
			extra = ` words="merge"`
		}
		fmt.Fprintf(w, "        %s) flags=%q; files=%q;%s ;;\n", c.name, strings.Join(flags, " "), strings.Join(files, " "), extra)
	}
	fmt.Fprint(w, `        *) return 0 ;;
    esac
    local f
    for f in ${files}; do
        if [[ "${prev}" == "${f}" ]]; then
            COMPREPLY=( $(compgen -f -- "${cur}") )
            return 0
        fi
    done
    if [[ "${cur}" == -* ]]; then
        COMPREPLY=( $(compgen -W "${flags}" -- "${cur}") )
    elif [[ -n "${words}" && ${COMP_CWORD} -eq 2 ]]; then
        COMPREPLY=( $(compgen -W "${words}" -- "${cur}") )
    else
        COMPREPLY=( $(compgen -f -- "${cur}") )
    fi
    return 0
}
complete -o filenames -F _hubprov hubprov
`)
}

// zshQuote makes s safe inside a single-quoted _arguments spec.
func zshQuote(s string) string {
	return strings.NewReplacer("'", "", "[", "(", "]", ")", ":", " ", "\\", "").Replace(s)
}

func writeZsh(w io.Writer, specs []commandSpec) {
	fmt.Fprint(w, "#compdef hubprov\n# zsh completion for hubprov: hubprov completion zsh > \"${fpath[1]}/_hubprov\"\n\n_hubprov() {\n    local -a commands\n    commands=(\n")
	for _, c := range specs {
		fmt.Fprintf(w, "        '%s:%s'\n", c.name, zshQuote(c.summary))
	}
	fmt.Fprint(w, "    )\n    if (( CURRENT == 2 )); then\n        _describe 'command' commands\n        return\n    fi\n    local cmd=$words[2]\n    shift words\n    (( CURRENT-- ))\n    case $cmd in\n")
	for _, c := range specs {
		fmt.Fprintf(w, "        %s)\n            _arguments \\\n", c.name)
		for _, f := range c.flags {
			spec := fmt.Sprintf("'%s[%s]'", dashed(f.name), zshQuote(f.usage))
			if f.takesValue {
				action := ""
				if f.file {
					action = "_files"
				}
				spec = fmt.Sprintf("'*%s[%s]:%s:%s'", dashed(f.name), zshQuote(f.usage), f.name, action)
			}
			fmt.Fprintf(w, "                %s \\\n", spec)
		}
		switch c.name {
		case "completion":
			fmt.Fprint(w, "                '1:shell:(bash zsh fish)'\n")
		case "report":
			fmt.Fprint(w, "                '1:subcommand:(merge)' '*:report:_files'\n")
		default:
			fmt.Fprint(w, "                '*:file:_files'\n")
		}
		fmt.Fprint(w, "            ;;\n")
	}
	fmt.Fprint(w, "    esac\n}\n\nif [ \"$funcstack[1]\" = \"_hubprov\" ]; then\n    _hubprov \"$@\"\nelse\n    compdef _hubprov hubprov\nfi\n")
}

// fishQuote makes s safe inside a single-quoted fish string.
func fishQuote(s string) string {
	return strings.NewReplacer(`\`, `\\`, "'", `\'`).Replace(s)
}

func writeFish(w io.Writer, specs []commandSpec) {
	var names []string
	for _, c := range specs {
		names = append(names, c.name)
	}
	sort.Strings(names)
	fmt.Fprint(w, "# fish completion for hubprov: hubprov completion fish > ~/.config/fish/completions/hubprov.fish\ncomplete -c hubprov -f\n")
	for _, c := range specs {
		fmt.Fprintf(w, "complete -c hubprov -n '__fish_use_subcommand' -a %s -d '%s'\n", c.name, fishQuote(c.summary))
	}
	for _, c := range specs {
		cond := fmt.Sprintf("'__fish_seen_subcommand_from %s'", c.name)
		for _, f := range c.flags {
			opt := "-l " + f.name
			if len(f.name) == 1 {
				opt = "-s " + f.name
			}
			if f.takesValue {
				opt += " -r"
			}
			if f.file {
				opt += " -F"
			}
			fmt.Fprintf(w, "complete -c hubprov -n %s %s -d '%s'\n", cond, opt, fishQuote(f.usage))
		}
		switch c.name {
		case "completion":
			fmt.Fprintf(w, "complete -c hubprov -n %s -a 'bash zsh fish'\n", cond)
		case "report":
			fmt.Fprintf(w, "complete -c hubprov -n %s -a merge\n", cond)
		}
	}
}
