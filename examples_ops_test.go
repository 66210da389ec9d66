package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hubprov/hubprov/manifest"
)

// The Kubernetes and CI examples (examples/kubernetes, examples/ci) are copied
// into clusters and repositories as they are, so TestOpsExamples holds them to
// what hubprov really accepts: every `hubprov ...` they run, in a container's
// command and args, in a workflow's run: script, or shown in a comment as
// `# $ hubprov ...`, names a command that exists and only flags that its
// --help lists, with values of the right type. It also checks what makes the
// examples work where they run (Kubernetes expands $(VAR) only for declared
// variables; a read-only root file system needs the report on a volume; an
// Indexed Job's shard count is its completions; applies do not overlap), and
// that every example manifest they refer to validates and has its {env: NAME}
// references set where hubprov runs.

// opsExampleDirs are the folders checked, and what their files are.
var opsExampleDirs = map[string]string{
	"examples/kubernetes": "kubernetes",
	"examples/ci":         "workflow",
}

func TestOpsExamples(t *testing.T) {
	for dir, kind := range opsExampleDirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.y*ml"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no YAML file (%v)", dir, err)
		}
		for _, file := range files {
			t.Run(filepath.ToSlash(file), func(t *testing.T) {
				raw, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				docs, err := decodeDocuments(raw)
				if err != nil {
					t.Fatalf("%s: does not parse: %v", file, err)
				}
				c := &opsCheck{t: t, file: filepath.ToSlash(file), refs: referencedManifests(t, file, raw)}
				if kind == "kubernetes" {
					c.kubernetes(docs)
				} else {
					c.workflow(docs)
				}
				c.comments(raw)
				if len(c.invs) == 0 {
					t.Fatal("no hubprov invocation found")
				}
				for _, inv := range c.invs {
					for _, p := range checkInvocation(inv.args) {
						t.Errorf("%s: hubprov %s: %s", inv.where, strings.Join(inv.args, " "), p)
					}
				}
			})
		}
	}
}

// An opsInvocation is one `hubprov ...` command line found in an example.
type opsInvocation struct {
	where string   // file:line
	args  []string // after "hubprov"
}

// opsCheck collects the invocations and problems of one example file.
type opsCheck struct {
	t    *testing.T
	file string
	refs map[string][]string // referenced example manifest -> its {env: NAME} references
	invs []opsInvocation
}

func (c *opsCheck) errorf(n *yaml.Node, format string, args ...any) {
	c.t.Helper()
	line := 0
	if n != nil {
		line = n.Line
	}
	c.t.Errorf("%s:%d: %s", c.file, line, fmt.Sprintf(format, args...))
}

func (c *opsCheck) at(n *yaml.Node) string { return fmt.Sprintf("%s:%d", c.file, n.Line) }

// knownKinds are the Kubernetes objects the examples may hold, with their apiVersion.
var knownKinds = map[string]string{
	"Job": "batch/v1", "CronJob": "batch/v1", "PersistentVolumeClaim": "v1", "ConfigMap": "v1",
	"Secret": "v1", "ServiceAccount": "v1", "Pod": "v1",
}

func (c *opsCheck) kubernetes(docs []*yaml.Node) {
	jobs := 0
	for _, doc := range docs {
		kind, api := scalarAt(doc, "kind"), scalarAt(doc, "apiVersion")
		if want, ok := knownKinds[kind]; !ok || api != want {
			c.errorf(doc, "kind %q apiVersion %q: want one of %v with its apiVersion", kind, api, knownKinds)
			continue
		}
		if scalarAt(doc, "metadata", "name") == "" {
			c.errorf(doc, "%s without metadata.name", kind)
		}
		switch kind {
		case "Job":
			jobs++
			c.jobSpec(nodeAt(doc, "spec"))
		case "CronJob":
			jobs++
			spec := nodeAt(doc, "spec", "jobTemplate", "spec")
			if spec == nil || scalarAt(doc, "spec", "schedule") == "" {
				c.errorf(doc, "CronJob without spec.schedule and spec.jobTemplate.spec")
				continue
			}
			if p := scalarAt(doc, "spec", "concurrencyPolicy"); p != "Forbid" && c.jobWrites(spec) {
				c.errorf(doc, "CronJob running apply or destroy with concurrencyPolicy %q: want Forbid, two runs of one set race each other", p)
			}
			c.jobSpec(spec)
		}
	}
	if jobs == 0 {
		c.t.Error("no Job or CronJob")
	}
}

// jobWrites reports whether a Job spec's containers run apply or destroy.
func (c *opsCheck) jobWrites(spec *yaml.Node) bool {
	for _, ctr := range podContainers(nodeAt(spec, "template", "spec")) {
		if args := containerArgv(ctr); isHubprov(args) && len(args) > 1 && (args[1] == "apply" || args[1] == "destroy") {
			return true
		}
	}
	return false
}

func (c *opsCheck) jobSpec(spec *yaml.Node) {
	pod := nodeAt(spec, "template", "spec")
	if pod == nil {
		c.errorf(spec, "Job without spec.template.spec")
		return
	}
	if rp := scalarAt(pod, "restartPolicy"); rp != "Never" && rp != "OnFailure" {
		c.errorf(pod, "a Job's restartPolicy must be Never or OnFailure, not %q", rp)
	}
	indexed := scalarAt(spec, "completionMode") == "Indexed"
	completions := scalarAt(spec, "completions")
	podNonRoot := scalarAt(pod, "securityContext", "runAsNonRoot") == "true"
	found := false
	for _, ctr := range podContainers(pod) {
		argv := containerArgv(ctr)
		if !isHubprov(argv) {
			continue
		}
		found = true
		where := ctr
		if a := nodeAt(ctr, "args"); a != nil {
			where = a
		}
		c.invs = append(c.invs, opsInvocation{c.at(where), argv[1:]})

		env := map[string]bool{}
		if e := nodeAt(ctr, "env"); e != nil {
			for _, v := range e.Content {
				env[scalarAt(v, "name")] = true
			}
		}
		// Kubernetes expands $(VAR) in command and args only for a declared
		// variable, and leaves anything else as it is: --shard "$(X)/4" would fail.
		for _, a := range argv {
			for _, m := range k8sVarRef.FindAllStringSubmatch(strings.ReplaceAll(a, "$$", ""), -1) {
				if !env[m[1]] {
					c.errorf(where, "%q refers to $(%s), which the container's env does not declare: Kubernetes would pass it unexpanded", a, m[1])
				}
			}
		}
		if ef := nodeAt(ctr, "envFrom"); ef == nil || len(ef.Content) == 0 {
			c.envCovers(where, env)
		}

		flags := argValues(argv[1:])
		if indexed {
			want := "$(JOB_COMPLETION_INDEX)/" + completions
			if got, ok := flags["shard"]; !ok || got != want {
				c.errorf(where, "an Indexed Job of %s completions runs each index with --shard %s, not %q", completions, want, got)
			}
			if !env["JOB_COMPLETION_INDEX"] {
				c.errorf(where, "JOB_COMPLETION_INDEX is not declared in env (downward API: metadata.annotations['batch.kubernetes.io/job-completion-index'])")
			}
		}

		if !podNonRoot && scalarAt(ctr, "securityContext", "runAsNonRoot") != "true" {
			c.errorf(ctr, "container %q may run as root: set securityContext.runAsNonRoot", scalarAt(ctr, "name"))
		}
		if scalarAt(ctr, "securityContext", "readOnlyRootFilesystem") != "true" {
			c.errorf(ctr, "container %q has a writable root file system: set securityContext.readOnlyRootFilesystem", scalarAt(ctr, "name"))
			continue
		}
		// With a read-only root, what hubprov writes must go to a writable volume.
		writable, mounted := map[string]bool{}, []string{}
		if vm := nodeAt(ctr, "volumeMounts"); vm != nil {
			for _, m := range vm.Content {
				p := path.Clean(scalarAt(m, "mountPath"))
				mounted = append(mounted, p)
				writable[p] = scalarAt(m, "readOnly") != "true"
			}
		}
		under := func(file string) (string, bool) {
			for _, m := range mounted {
				if strings.HasPrefix(path.Clean(file), m+"/") || path.Clean(file) == m {
					return m, true
				}
			}
			return "", false
		}
		var outputs []string
		if argv[1] == "apply" || argv[1] == "destroy" {
			r, ok := flags["report"]
			if !ok {
				r = "hubprov-report.json" // the default --report, in the working directory
			}
			outputs = append(outputs, r, r+".journal")
		}
		for _, f := range []string{"junit", "out"} {
			if v, ok := flags[f]; ok {
				outputs = append(outputs, v)
			}
		}
		for _, o := range outputs {
			if m, ok := under(o); !ok || !writable[m] {
				c.errorf(where, "hubprov writes %s, which is not on a writable volume mount (the root file system is read-only)", o)
			}
		}
		for _, f := range flags.all("f") {
			if _, ok := under(f); !ok {
				c.errorf(where, "-f %s is not on a volume mount", f)
			}
		}
	}
	if !found {
		c.errorf(spec, "Job without a hubprov container")
	}
}

// k8sVarRef is a Kubernetes $(VAR) reference in command or args.
var k8sVarRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// envCovers checks that every {env: NAME} of the referenced example manifests
// is set where hubprov runs: plan and apply resolve all of them before sending
// anything, and stop with exit 3 when one is missing.
func (c *opsCheck) envCovers(where *yaml.Node, env map[string]bool) {
	for file, names := range c.refs {
		for _, n := range names {
			if !env[n] {
				c.errorf(where, "%s refers to {env: %s}, which is not set here", file, n)
			}
		}
	}
}

func (c *opsCheck) workflow(docs []*yaml.Node) {
	if len(docs) != 1 {
		c.t.Fatalf("a workflow is one YAML document, not %d", len(docs))
	}
	wf := docs[0]
	if nodeAt(wf, "on") == nil {
		c.errorf(wf, "workflow without on:")
	}
	jobs := nodeAt(wf, "jobs")
	if jobs == nil || jobs.Kind != yaml.MappingNode || len(jobs.Content) == 0 {
		c.errorf(wf, "workflow without jobs:")
		return
	}
	wfEnv := mapKeys(nodeAt(wf, "env"))
	for i := 0; i+1 < len(jobs.Content); i += 2 {
		name, job := jobs.Content[i].Value, deref(jobs.Content[i+1])
		steps := nodeAt(job, "steps")
		if scalarAt(job, "runs-on") == "" || steps == nil || steps.Kind != yaml.SequenceNode {
			c.errorf(job, "job %s without runs-on and steps", name)
			continue
		}
		jobEnv := mapKeys(nodeAt(job, "env"))
		writes := false
		for _, step := range steps.Content {
			run, uses := nodeAt(step, "run"), scalarAt(step, "uses")
			if (run == nil) == (uses == "") {
				c.errorf(step, "job %s: a step has either run: or uses:", name)
				continue
			}
			if run == nil {
				continue
			}
			base := run.Line
			if run.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
				base++
			}
			resolves := false
			for _, cmd := range shellCommands(run.Value) {
				if args := cmd.hubprovArgs(); args != nil {
					c.invs = append(c.invs, opsInvocation{fmt.Sprintf("%s:%d", c.file, base+cmd.line), args})
					switch args[0] {
					case "apply", "destroy":
						writes = true
						resolves = true
					case "plan", "authorize-urls":
						resolves = true
					}
				}
			}
			if resolves {
				env := map[string]bool{}
				for _, m := range []map[string]bool{wfEnv, jobEnv, mapKeys(nodeAt(step, "env"))} {
					for k := range m {
						env[k] = true
					}
				}
				c.envCovers(run, env)
			}
		}
		if writes {
			// Two applies of one set at once would race: the job needs a
			// concurrency group that queues, not cancels, the next run.
			conc := nodeAt(job, "concurrency")
			if conc == nil {
				conc = nodeAt(wf, "concurrency")
			}
			group := scalarAt(conc, "group")
			if conc != nil && conc.Kind == yaml.ScalarNode {
				group = conc.Value
			}
			if group == "" {
				c.errorf(job, "job %s runs apply without a concurrency group", name)
			} else if scalarAt(conc, "cancel-in-progress") == "true" {
				c.errorf(conc, "job %s: cancel-in-progress would interrupt a running apply", name)
			}
			// The report holds instance tokens: an uploaded report must expire soon.
			for _, step := range steps.Content {
				if strings.HasPrefix(scalarAt(step, "uses"), "actions/upload-artifact") &&
					strings.Contains(scalarAt(step, "with", "path"), "report") {
					if d, err := strconv.Atoi(scalarAt(step, "with", "retention-days")); err != nil || d > 7 {
						c.errorf(step, "the report holds instance tokens: set retention-days to a week or less")
					}
				}
			}
		}
	}
}

// comments finds the commands shown in comments as `# $ hubprov ...`, with
// `\` continuations on the following comment lines.
func (c *opsCheck) comments(raw []byte) {
	lines := strings.Split(string(raw), "\n")
	for i := 0; i < len(lines); i++ {
		text, ok := commentText(lines[i])
		if !ok || !strings.HasPrefix(text, "$ hubprov ") {
			continue
		}
		start := i + 1
		cmd := strings.TrimPrefix(text, "$ ")
		for strings.HasSuffix(cmd, `\`) && i+1 < len(lines) {
			next, ok := commentText(lines[i+1])
			if !ok {
				break
			}
			i++
			cmd += "\n" + next
		}
		for _, sc := range shellCommands(cmd) {
			if args := sc.hubprovArgs(); args != nil {
				c.invs = append(c.invs, opsInvocation{fmt.Sprintf("%s:%d", c.file, start+sc.line), args})
			}
		}
	}
}

// commentText is the text of a YAML comment line, without the # and the indentation.
func commentText(line string) (string, bool) {
	s := strings.TrimSpace(line)
	if !strings.HasPrefix(s, "#") {
		return "", false
	}
	return strings.TrimSpace(strings.TrimPrefix(s, "#")), true
}

// exampleManifestRef is a path to an example manifest in a file's text.
var exampleManifestRef = regexp.MustCompile(`examples/[A-Za-z0-9_./-]+\.ya?ml`)

// referencedManifests validates every example manifest the file names (other
// than the ops examples themselves) and returns its environment references.
func referencedManifests(t *testing.T, file string, raw []byte) map[string][]string {
	refs := map[string][]string{}
	for _, p := range exampleManifestRef.FindAllString(string(raw), -1) {
		if _, done := refs[p]; done || strings.HasPrefix(p, "examples/kubernetes/") || strings.HasPrefix(p, "examples/ci/") {
			continue
		}
		var out, errb bytes.Buffer
		if code := run(context.Background(), []string{"validate", "-f", p}, strings.NewReader(""), &out, &errb); code != exitOK {
			t.Errorf("%s refers to %s, which does not validate (exit %d):\n%s%s", file, p, code, out.String(), errb.String())
			refs[p] = nil
			continue
		}
		m, _ := manifest.Load([]string{p})
		names := []string{}
		for _, s := range m.Secrets() {
			if s.Source == manifest.SecretEnv && !contains(names, s.Ref) {
				names = append(names, s.Ref)
			}
		}
		refs[p] = names
	}
	return refs
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// checkInvocation checks hubprov's arguments against the command table and
// the command's --help, as Go's flag package parses them: -name or --name,
// with =value or, unless boolean, the next argument as value; flags may
// follow positional arguments (parseFlags reads them there too).
func checkInvocation(args []string) []string {
	if len(args) == 0 {
		return []string{"no command"}
	}
	if lookup(args[0]) == nil {
		var names []string
		for _, c := range commands {
			names = append(names, c.name)
		}
		return []string{fmt.Sprintf("unknown command %q (commands: %s)", args[0], strings.Join(names, ", "))}
	}
	cmd, rest := []string{args[0]}, args[1:]
	help, err := commandHelp(cmd)
	if err != nil {
		return []string{err.Error()}
	}
	if len(rest) > 0 && subcommandWord.MatchString(rest[0]) && hasSubcommand(help, args[0], rest[0]) {
		cmd, rest = append(cmd, rest[0]), rest[1:]
		if help, err = commandHelp(cmd); err != nil {
			return []string{err.Error()}
		}
	}
	flags := helpFlags(help)
	var probs []string
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			continue // a positional argument
		}
		name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		name, value, hasValue := strings.Cut(name, "=")
		if name == "h" || name == "help" {
			continue
		}
		typ, ok := flags[name]
		if !ok || strings.HasPrefix(name, "-") {
			probs = append(probs, fmt.Sprintf("flag %s is not defined by 'hubprov %s' (its flags: %s)", a, strings.Join(cmd, " "), flagNames(flags)))
			if !hasValue && i+1 < len(rest) && !strings.HasPrefix(rest[i+1], "-") {
				i++ // most likely its value: do not report it again as an argument
			}
			continue
		}
		if typ == "bool" {
			if hasValue && !strings.Contains(value, "$") {
				if _, err := strconv.ParseBool(value); err != nil {
					probs = append(probs, fmt.Sprintf("%s: not a boolean", a))
				}
			}
			continue
		}
		if !hasValue {
			if i+1 == len(rest) {
				probs = append(probs, fmt.Sprintf("flag %s needs a value", a))
				continue
			}
			i++
			value = rest[i]
		}
		if msg := checkValue(typ, value); msg != "" {
			if !hasValue {
				a += " " + value
			}
			probs = append(probs, fmt.Sprintf("%s: %s", a, msg))
		}
	}
	return probs
}

// subcommandWord is what a subcommand looks like; a file name (plan.json) is not one.
var subcommandWord = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

// hasSubcommand reports whether the command's help names word as a subcommand:
// in a usage line ("hubprov report merge") or in a list of subcommands.
func hasSubcommand(help, cmd, word string) bool {
	if strings.Contains(help, "hubprov "+cmd+" "+word) {
		return true
	}
	return regexp.MustCompile(`(?m)^\s{2,}` + regexp.QuoteMeta(word) + `\s{2,}\S`).MatchString(help)
}

// checkValue checks a literal value against a flag's type as --help shows it;
// values built by the shell or by Kubernetes ($...) are left alone.
func checkValue(typ, v string) string {
	if strings.Contains(v, "$") {
		return ""
	}
	// --help's placeholders: N an integer, NUM and R a number, D a duration.
	if t, ok := map[string]string{"N": "int", "NUM": "float", "R": "float", "D": "duration"}[typ]; ok {
		typ = t
	}
	var err error
	switch typ {
	case "int", "int64":
		_, err = strconv.ParseInt(v, 10, 64)
	case "uint", "uint64":
		_, err = strconv.ParseUint(v, 10, 64)
	case "float":
		_, err = strconv.ParseFloat(v, 64)
	case "duration":
		_, err = time.ParseDuration(v)
	}
	if err != nil {
		return "not a valid " + typ
	}
	return ""
}

var helpCache = map[string]string{}

// commandHelp runs `hubprov CMD... --help` and returns what it prints: what
// users see, and the one description of a command's flags the test relies on.
func commandHelp(cmd []string) (string, error) {
	key := strings.Join(cmd, " ")
	if h, ok := helpCache[key]; ok {
		return h, nil
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), append(append([]string{}, cmd...), "--help"), strings.NewReader(""), &out, &errb)
	if code != exitOK {
		return "", fmt.Errorf("'hubprov %s --help' exited %d: %s", key, code, strings.TrimSpace(errb.String()))
	}
	helpCache[key] = out.String()
	return out.String(), nil
}

// helpFlagLine is a flag's first line in --help: "  --name" (or "  -f"),
// then " ARG" unless boolean; the usage follows on the next line.
var helpFlagLine = regexp.MustCompile(`^  --?([^\s=-][^\s=]*)( \S+)?$`)

// helpFlags returns the flags listed by a --help output, each with its type
// ("bool" when PrintDefaults shows none).
func helpFlags(help string) map[string]string {
	if i := strings.Index(help, "\nFlags:\n"); i >= 0 {
		help = help[i:]
	}
	flags := map[string]string{}
	for _, line := range strings.Split(help, "\n") {
		if m := helpFlagLine.FindStringSubmatch(line); m != nil {
			typ := strings.TrimSpace(m[2])
			if typ == "" {
				typ = "bool"
			}
			flags[m[1]] = typ
		}
	}
	return flags
}

func flagNames(flags map[string]string) string {
	var names []string
	for n := range flags {
		if len(n) == 1 {
			names = append(names, "-"+n)
		} else {
			names = append(names, "--"+n)
		}
	}
	sort.Strings(names)
	return strings.Join(names, " ")
}

// argFlags is the flags of an argument list by name (dashes removed), in order.
type argFlags map[string]string

func (f argFlags) all(name string) []string {
	if v, ok := f[name]; ok {
		return strings.Split(v, "\x00")
	}
	return nil
}

// argValues returns the values given to flags in hubprov's arguments, as
// checkInvocation would parse them: a flag's value is the next argument
// unless the help says it is boolean. Repeated flags are joined with NUL.
func argValues(args []string) argFlags {
	vals := argFlags{}
	var help map[string]string
	if len(args) > 0 {
		if h, err := commandHelp(args[:1]); err == nil {
			help = helpFlags(h)
		}
	}
	add := func(k, v string) {
		if old, ok := vals[k]; ok {
			v = old + "\x00" + v
		}
		vals[k] = v
	}
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") {
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !hasValue && help[name] != "bool" && i+1 < len(args) {
			i++
			value = args[i]
		}
		add(name, value)
	}
	return vals
}

// A shellCommand is one simple command of a shell script: its words, quotes
// removed, and the script line (from 0) where it starts.
type shellCommand struct {
	words []string
	line  int
}

// hubprovArgs returns the arguments of a command that runs hubprov (after any
// VAR=value assignments and keywords such as if or then), or nil.
func (sc shellCommand) hubprovArgs() []string {
	w := sc.words
	for len(w) > 0 && (shellAssignment.MatchString(w[0]) || shellKeywords[w[0]]) {
		w = w[1:]
	}
	if isHubprov(w) {
		return w[1:]
	}
	return nil
}

var (
	shellAssignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)
	shellKeywords   = map[string]bool{"if": true, "then": true, "else": true, "elif": true, "do": true,
		"while": true, "until": true, "!": true, "time": true, "exec": true, "command": true, "{": true}
)

func isHubprov(argv []string) bool {
	return len(argv) > 1 && path.Base(argv[0]) == "hubprov"
}

// shellCommands splits a POSIX shell script into simple commands, as far as
// the examples need: quotes, backslash escapes and line continuations,
// comments, $(...), ${...} and GitHub's ${{ ... }} inside words, redirections
// (dropped with their target), and the operators ; & && | || ( ) and newline
// that end a command.
func shellCommands(script string) []shellCommand {
	var (
		cmds      []shellCommand
		cur       shellCommand
		word      strings.Builder
		inWord    bool
		redirect  bool // the next word is a redirection target
		line      int
		haveStart bool
	)
	endWord := func() {
		if !inWord {
			return
		}
		if redirect {
			redirect = false
		} else {
			if !haveStart {
				cur.line, haveStart = line, true
			}
			cur.words = append(cur.words, word.String())
		}
		word.Reset()
		inWord = false
	}
	endCommand := func() {
		endWord()
		if len(cur.words) > 0 {
			cmds = append(cmds, cur)
		}
		cur, haveStart = shellCommand{}, false
	}
	rs := []rune(script)
	// balanced copies rs[i:] up to the bracket closing rs[i] into the word.
	balanced := func(i int, open, close rune) int {
		depth := 0
		for ; i < len(rs); i++ {
			if rs[i] == '\n' {
				line++
			}
			word.WriteRune(rs[i])
			switch rs[i] {
			case open:
				depth++
			case close:
				depth--
				if depth == 0 {
					return i
				}
			}
		}
		return i
	}
	// expansion copies the $(...) or ${...} starting at rs[i] into the word.
	expansion := func(i int) int {
		word.WriteRune('$')
		i++
		close := ')'
		if rs[i] == '{' {
			close = '}'
		}
		return balanced(i, rs[i], close)
	}
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == '\\' && i+1 < len(rs):
			i++
			if rs[i] == '\n' {
				line++
				continue
			}
			word.WriteRune(rs[i])
			inWord = true
		case r == '\'':
			inWord = true
			for i++; i < len(rs) && rs[i] != '\''; i++ {
				if rs[i] == '\n' {
					line++
				}
				word.WriteRune(rs[i])
			}
		case r == '"':
			inWord = true
			for i++; i < len(rs) && rs[i] != '"'; i++ {
				switch {
				case rs[i] == '\\' && i+1 < len(rs) && strings.ContainsRune("\"\\$`\n", rs[i+1]):
					i++
					if rs[i] == '\n' {
						line++
						continue
					}
				case isExpansion(rs, i):
					i = expansion(i)
					continue
				case rs[i] == '\n':
					line++
				}
				word.WriteRune(rs[i])
			}
		case isExpansion(rs, i):
			inWord = true
			i = expansion(i)
		case r == '#' && !inWord:
			for i < len(rs) && rs[i] != '\n' {
				i++
			}
			i--
		case r == ' ' || r == '\t':
			endWord()
		case r == '\n':
			endCommand()
			line++
		case r == ';' || r == '&' || r == '|' || r == '(' || r == ')':
			if r == '&' && i > 0 && rs[i-1] == '>' {
				continue // >&2
			}
			endCommand()
		case r == '>' || r == '<':
			if inWord && isDigits(word.String()) {
				word.Reset() // 2>file: the descriptor is no argument
				inWord = false
			}
			endWord()
			for i+1 < len(rs) && (rs[i+1] == '>' || rs[i+1] == '&') {
				i++
			}
			redirect = true
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	endCommand()
	return cmds
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// decodeDocuments parses every YAML document of a file.
func decodeDocuments(raw []byte) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		docs = append(docs, deref(&n))
	}
}

// deref follows aliases and unwraps a document node.
func deref(n *yaml.Node) *yaml.Node {
	for n != nil && (n.Kind == yaml.AliasNode || n.Kind == yaml.DocumentNode) {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		} else if len(n.Content) > 0 {
			n = n.Content[0]
		} else {
			return nil
		}
	}
	return n
}

// nodeAt walks mapping keys from n; nil when one is missing.
func nodeAt(n *yaml.Node, keys ...string) *yaml.Node {
	n = deref(n)
	for _, k := range keys {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = deref(n.Content[i+1])
				break
			}
		}
		n = next
	}
	return n
}

// scalarAt is the scalar value at keys, or "".
func scalarAt(n *yaml.Node, keys ...string) string {
	if n = nodeAt(n, keys...); n != nil && n.Kind == yaml.ScalarNode {
		return n.Value
	}
	return ""
}

func mapKeys(n *yaml.Node) map[string]bool {
	keys := map[string]bool{}
	if n = deref(n); n != nil && n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			keys[n.Content[i].Value] = true
		}
	}
	return keys
}

// podContainers returns the containers and init containers of a pod spec.
func podContainers(pod *yaml.Node) []*yaml.Node {
	var out []*yaml.Node
	for _, k := range []string{"initContainers", "containers"} {
		if s := nodeAt(pod, k); s != nil && s.Kind == yaml.SequenceNode {
			for _, c := range s.Content {
				out = append(out, deref(c))
			}
		}
	}
	return out
}

// containerArgv is a container's command followed by its args.
func containerArgv(ctr *yaml.Node) []string {
	var argv []string
	for _, k := range []string{"command", "args"} {
		if s := nodeAt(ctr, k); s != nil && s.Kind == yaml.SequenceNode {
			for _, v := range s.Content {
				argv = append(argv, deref(v).Value)
			}
		}
	}
	return argv
}

// TestShellCommands pins the script splitting the example checks rely on.
func TestShellCommands(t *testing.T) {
	script := `set -e
# hubprov apply in a comment is no command
hubprov plan -f manifests/ --prune \
  --format markdown > plan.md 2>&1
code=0; X=1 hubprov apply -f "dir with space/" --max-deletes "$MAX" || code=$?
if hubprov validate -f m.yaml --format=github; then echo ok >&2; fi
echo "$(hubprov version)" | tee out
hubprov report merge --out all.json ${{ github.workspace }}/r-0.json 'r-1.json'`
	var got []string
	for _, c := range shellCommands(script) {
		if a := c.hubprovArgs(); a != nil {
			got = append(got, fmt.Sprintf("%d: %q", c.line, a))
		}
	}
	want := []string{
		`2: ["plan" "-f" "manifests/" "--prune" "--format" "markdown"]`,
		`4: ["apply" "-f" "dir with space/" "--max-deletes" "$MAX"]`,
		`5: ["validate" "-f" "m.yaml" "--format=github"]`,
		`7: ["report" "merge" "--out" "all.json" "${{ github.workspace }}/r-0.json" "r-1.json"]`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestCheckInvocation shows that the checker rejects what hubprov would.
func TestCheckInvocation(t *testing.T) {
	for _, tc := range []struct {
		args string
		want string // "" for no problem, else part of the first problem
	}{
		{"validate -f m.yaml --format github --strict", ""},
		{"validate --format=json -f=m.yaml --strict=false", ""},
		{"apply -f m --prune --max-deletes 20 --rate 2.5 --request-timeout 30s --report r.json", ""},
		{"apply -f m --prune --max-deletes 20 --junit j.xml", ""},
		{"frobnicate -f m", "unknown command"},
		{"apply -f m --no-such-flag", "not defined"},
		{"validate -f m --strict=maybe", "not a boolean"},
		{"apply -f m --request-timeout soon", "not a valid duration"},
		{"apply -f m --parallelism 2.5", "not a valid int"},
		{"apply -f m --junit", "needs a value"},
		{"validate m.yaml --strict", ""}, // flags may follow arguments
		{"apply ---prune -f m", "not defined"},
	} {
		probs := checkInvocation(strings.Fields(tc.args))
		switch {
		case tc.want == "" && len(probs) > 0:
			t.Errorf("%s: %v", tc.args, probs)
		case tc.want != "" && (len(probs) == 0 || !strings.Contains(probs[0], tc.want)):
			t.Errorf("%s: got %v, want a problem with %q", tc.args, probs, tc.want)
		}
	}
}

// isExpansion reports whether rs[i] starts $(...) or ${...}.
func isExpansion(rs []rune, i int) bool {
	return rs[i] == '$' && i+1 < len(rs) && (rs[i+1] == '(' || rs[i+1] == '{')
}
