package manifest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hubprov/hubprov/internal/safefile"
	"github.com/hubprov/hubprov/schema"
	"gopkg.in/yaml.v3"
)

// The input bounds of a run.
const (
	// MaxFileSize is the largest manifest file Load reads.
	MaxFileSize = 64 << 20
	// MaxAccounts is the most accounts a run may hold, over all its files.
	MaxAccounts = 200_000
)

// batchSize is how many accounts one worker parses and checks at a time.
const batchSize = 256

// fileState is one file of the run while it loads.
type fileState struct {
	path  string
	data  []byte
	doc   *yaml.Node // the shell (fast path: accounts' items blanked out) or the whole file
	root  *yaml.Node // the top-level mapping; nil when the file is not one
	value map[string]any
	bad   map[string]bool // top-level keys whose value broke a schema rule
	dead  bool            // unreadable or unparsable: nothing more comes from it

	accountsKey *yaml.Node
	items       []*yaml.Node // whole-file parse: the accounts' nodes
	split       *split       // fast path: where the accounts' items stand in data
}

// run is the state of one Load.
type run struct {
	files []*fileState
	probs []Problem

	platform     Platform
	platformFile string
	defaults     *yaml.Node // the defaults mapping, nil when absent or invalid
	defaultsFile string
	defaultsVal  map[string]any

	// The defaults as fields, computed once before the accounts load.
	defFields     map[string]field
	defAuthFields map[string]field
}

func (r *run) errorf(pos Pos, hint, format string, args ...any) {
	r.probs = append(r.probs, Problem{Pos: pos, Severity: Error, Message: sprintf(format, args...), Hint: hint})
}

func (r *run) warnf(pos Pos, hint, format string, args ...any) {
	r.probs = append(r.probs, Problem{Pos: pos, Severity: Warning, Message: sprintf(format, args...), Hint: hint})
}

// Load reads the manifest files and folders of one run (a folder contributes
// its *.yaml and *.yml files, in lexical order, not its subfolders), validates
// them against the schema and the domain rules, merges defaults and returns the
// run's manifest. Problems include warnings and are sorted by file, line and
// column; the manifest is nil if and only if some problem is an error.
// Secret references stay unresolved: see [Manifest.Resolve].
func Load(paths []string) (*Manifest, []Problem) {
	r := &run{}
	r.expand(paths)
	for _, f := range r.files {
		r.read(f)
	}
	m := &Manifest{}
	r.runLevel(m)
	if r.countAccounts() {
		m.Accounts = r.accounts()
		r.uniqueNames(m.Accounts)
	}
	rank := map[string]int{}
	for i, f := range r.files {
		rank[f.path] = i
		m.Files = append(m.Files, File{Path: f.path, SHA256: digest(f.data)})
	}
	probs := sortProblems(r.probs, rank)
	if HasErrors(probs) {
		return nil, probs
	}
	return m, probs
}

func digest(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// expand turns the paths into the run's files.
func (r *run) expand(paths []string) {
	if len(paths) == 0 {
		r.errorf(Pos{File: "-"}, "pass a manifest file or folder with -f", "no manifest given")
		return
	}
	seen := map[string]bool{}
	add := func(p string) {
		if c := filepath.Clean(p); !seen[c] {
			seen[c] = true
			r.files = append(r.files, &fileState{path: p})
		}
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			r.errorf(Pos{File: p}, "", "cannot read: %s", errText(err))
			continue
		}
		if !st.IsDir() {
			add(p)
			continue
		}
		ents, err := os.ReadDir(p)
		if err != nil {
			r.errorf(Pos{File: p}, "", "cannot read folder: %s", errText(err))
			continue
		}
		n := 0
		for _, e := range ents {
			name := e.Name()
			ext := strings.ToLower(filepath.Ext(name))
			if e.IsDir() || (ext != ".yaml" && ext != ".yml") || strings.HasPrefix(name, ".") {
				continue
			}
			add(filepath.Join(p, name))
			n++
		}
		if n == 0 {
			r.errorf(Pos{File: p}, "a folder contributes its *.yaml and *.yml files, not its subfolders", "no *.yaml or *.yml file in this folder")
		}
	}
}

// errText describes a file-system error without repeating the path.
func errText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// read reads, bounds and parses one file, and checks its top level (the shell).
func (r *run) read(f *fileState) {
	var err error
	// Opened once, without blocking; a FIFO, a device or a folder is refused
	// unread, and the size limit holds even for a file that grows.
	f.data, err = safefile.ReadFile(f.path, MaxFileSize)
	switch {
	case errors.Is(err, safefile.ErrTooLarge):
		r.errorf(Pos{File: f.path, Line: 1, Col: 1}, "split the accounts over several files of one run", "file is larger than %d MiB", MaxFileSize>>20)
		f.data, f.dead = nil, true
		return
	case errors.Is(err, safefile.ErrNotRegular):
		r.errorf(Pos{File: f.path}, "a manifest is a regular file, or a folder of *.yaml and *.yml files", "cannot read: %s", errText(err))
		f.data, f.dead = nil, true
		return
	case err != nil:
		r.errorf(Pos{File: f.path}, "", "cannot read: %s", errText(err))
		f.data, f.dead = nil, true
		return
	}
	if s := splitAccounts(f.data); s != nil && r.parseShell(f, s) {
		return
	}
	f.split = nil
	doc, probs := parseDoc(f.path, f.data)
	if probs != nil {
		r.probs = append(r.probs, probs...)
		f.dead = true
		return
	}
	f.doc = doc
	r.shell(f)
}

// parseShell parses the file with its accounts' items blanked out. It returns
// false when the text is not what splitAccounts took it for.
func (r *run) parseShell(f *fileState, s *split) bool {
	shell := make([]byte, 0, s.start+(len(f.data)-s.end)+s.lines)
	shell = append(shell, f.data[:s.start]...)
	shell = append(shell, bytes.Repeat([]byte{'\n'}, s.lines)...)
	shell = append(shell, f.data[s.end:]...)
	doc, probs := parseDoc(f.path, shell)
	if probs != nil {
		return false
	}
	root := mappingOf(doc)
	if root == nil || root.Kind != yaml.MappingNode {
		return false
	}
	k := findKey(root, "accounts")
	v := findVal(root, "accounts")
	if k == nil || k.Line != s.keyLine || k.Column != 1 || v.Kind != yaml.ScalarNode || v.ShortTag() != "!!null" || v.Value != "" {
		return false
	}
	f.doc, f.split = doc, s
	r.shell(f)
	return true
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yaml12Directive matches a "%YAML 1.2" directive line.
var yaml12Directive = regexp.MustCompile(`^%YAML[ \t]+1\.2([ \t]|$)`)

// asYAML11 returns data with a leading "%YAML 1.2" directive read as 1.1, the
// version yaml.v3 accepts: the converter reads scalars by YAML 1.2's core
// schema either way. The text keeps its length and lines.
func asYAML11(data []byte) []byte {
	for start := 0; start < len(data); {
		end := len(data)
		if i := bytes.IndexByte(data[start:], '\n'); i >= 0 {
			end = start + i
		}
		line := data[start:end]
		t := bytes.TrimSpace(line)
		switch {
		case len(t) == 0 || t[0] == '#':
			start = end + 1
			continue
		case yaml12Directive.Match(line):
			out := bytes.Clone(data)
			out[start+bytes.Index(line, []byte("1.2"))+2] = '1'
			return out
		}
		return data
	}
	return data
}

// parseDoc parses exactly one YAML document.
func parseDoc(file string, data []byte) (*yaml.Node, []Problem) {
	data = asYAML11(data)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			return nil, []Problem{{Pos: Pos{File: file, Line: 1, Col: 1}, Severity: Error, Message: "the manifest is empty", Hint: "a manifest starts with version: 1"}}
		}
		return nil, []Problem{yamlProblem(file, err)}
	}
	var next yaml.Node
	err := dec.Decode(&next)
	switch {
	case err == io.EOF:
		return &doc, nil
	case err != nil:
		p := yamlProblem(file, err)
		return nil, []Problem{p}
	default:
		pos := nodePos(file, &next)
		if len(next.Content) > 0 {
			pos = nodePos(file, next.Content[0])
		}
		return nil, []Problem{{Pos: pos, Severity: Error, Message: "a second YAML document in one file", Hint: "a manifest file holds one document: remove the ---, or move the second document to a file of its own"}}
	}
}

func yamlProblem(file string, err error) Problem {
	msg := err.Error()
	line := 1
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	if line < 1 {
		line = 1
	}
	return Problem{Pos: Pos{File: file, Line: line, Col: 1}, Severity: Error, Message: "YAML syntax: " + msg}
}

// shell converts and validates a file's top level, without its accounts' items.
func (r *run) shell(f *fileState) {
	c := &converter{file: f.path}
	root := mappingOf(f.doc)
	f.bad = map[string]bool{}
	var v any
	if root != nil && root.Kind == yaml.MappingNode {
		f.root = root
		m := make(map[string]any, len(root.Content)/2)
		for i := 0; i+1 < len(root.Content); i += 2 {
			key, ok := c.key(root, i, nil)
			if !ok {
				continue
			}
			val := root.Content[i+1]
			if key == "accounts" {
				f.accountsKey = root.Content[i]
				if val.Kind == yaml.SequenceNode {
					f.items = val.Content
					m[key] = []any{}
					continue
				}
				if f.split != nil {
					m[key] = []any{}
					continue
				}
			}
			before := len(c.probs)
			m[key] = c.value(val, 1)
			if len(c.probs) > before {
				// A conversion problem makes the value unusable.
				f.bad[key] = true
			}
		}
		v = m
		f.value = m
	} else {
		v = c.value(f.doc, 0)
	}
	r.probs = append(r.probs, c.probs...)
	if v == nil && root != nil && root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		r.errorf(nodePos(f.path, root), "a manifest starts with version: 1", "the manifest is empty")
		f.dead = true
		return
	}
	vs, err := schema.ValidateDef("", v)
	if err != nil {
		r.errorf(Pos{File: f.path, Line: 1, Col: 1}, "", "internal: %v", err)
		f.dead = true
		return
	}
	for _, x := range vs {
		if len(x.Path) > 0 && x.Path[0] == "defaults" && x.Keyword == "additionalProperties" {
			// An unknown key in defaults is one error, reported below; the
			// rest of defaults still applies to every account.
			dropUnknownKeys(f.value["defaults"], x.Path[1:], schema.AllowedKeys(x.Location))
			continue
		}
		if len(x.Path) > 0 {
			f.bad[x.Path[0]] = true
		} else {
			for _, k := range x.Keys {
				f.bad[k] = true
			}
		}
	}
	r.probs = append(r.probs, violationProblems(f.path, f.doc, nil, nil, vs)...)
	if f.value == nil {
		f.dead = true
	}
}

// dropUnknownKeys deletes, from the mapping at path below v, every key not in allowed.
func dropUnknownKeys(v any, path []string, allowed []string) {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		v = m[p]
	}
	m, ok := v.(map[string]any)
	if !ok || len(allowed) == 0 {
		return
	}
	for k := range m {
		if !slices.Contains(allowed, k) {
			delete(m, k)
		}
	}
}

// runLevel takes set, target and defaults from the files that hold them and
// reports conflicts between files.
func (r *run) runLevel(m *Manifest) {
	type first struct {
		pos Pos
		val any
	}
	seen := map[string]*first{}
	var live []*fileState
	for _, f := range r.files {
		if f.dead || f.root == nil {
			continue
		}
		live = append(live, f)
		if v, ok := f.value["version"].(int64); ok && v == 1 {
			m.Version = 1
		}
		for _, key := range []string{"set", "target", "defaults"} {
			kn := findKey(f.root, key)
			if kn == nil || f.bad[key] {
				continue
			}
			val := f.value[key]
			pos := nodePos(f.path, kn)
			if s := seen[key]; s != nil {
				if !reflect.DeepEqual(s.val, val) {
					r.errorf(pos, "set, target and defaults may stand in one file of a run, or be repeated identically", "%s differs from the %s at %s", key, key, s.pos)
				}
				continue
			}
			seen[key] = &first{pos: pos, val: val}
			switch key {
			case "set":
				m.Set, _ = val.(string)
			case "target":
				r.target(f, kn, findVal(f.root, key), m)
			case "defaults":
				r.defaults = findVal(f.root, key)
				r.defaultsFile = f.path
				r.defaultsVal, _ = val.(map[string]any)
			}
		}
	}
	if len(live) == 0 {
		return
	}
	anyBad := func(key string) bool {
		for _, f := range live {
			if f.bad[key] {
				return true
			}
		}
		return false
	}
	at := Pos{File: live[0].path, Line: 1, Col: 1}
	if seen["set"] == nil && !anyBad("set") {
		r.errorf(at, "add set: <name> to one file of the run; hubprov manages only the instances of its set", "no file of the run has a set")
	}
	if seen["target"] == nil && !anyBad("target") {
		r.errorf(at, "add target: {platform, credentials} to one file of the run", "no file of the run has a target")
	}
	if r.defaults != nil && r.platform != "" {
		// The loader's schema leaves the platform's rules to us (schema.ValidateDef).
		r.checkDefaultsPlatform()
	}
	if r.defaults != nil {
		r.checkDefaults()
	}
}

func (r *run) checkDefaultsPlatform() {
	if r.platform == AdobeFlow {
		if k := findKey(r.defaults, "element"); k != nil {
			r.errorf(nodePos(r.defaultsFile, k), "adobe-flow connections have no element; remove it", "defaults.element: not allowed on adobe-flow")
		}
		if a := findVal(r.defaults, "auth"); a != nil {
			if t := findVal(a, "type"); t != nil && t.Value != string(AuthOAuth2Tokens) {
				r.errorf(nodePos(r.defaultsFile, t), flowAuthHint, "defaults.auth.type: adobe-flow accepts only oauth2Tokens")
			}
		}
		return
	}
	if k := findKey(r.defaults, "description"); k != nil {
		r.errorf(nodePos(r.defaultsFile, k), "description is for adobe-flow connections only; use tags or configuration instead", "defaults.description: not allowed on %s", r.platform)
	}
}

// target decodes and checks the run's target.
func (r *run) target(f *fileState, key, n *yaml.Node, m *Manifest) {
	v, _ := f.value["target"].(map[string]any)
	t := &m.Target
	t.Pos = nodePos(f.path, key)
	t.Platform = Platform(str(v["platform"]))
	r.platform, r.platformFile = t.Platform, f.path
	t.BaseURL = str(v["baseURL"])
	if t.BaseURL != "" {
		r.checkBaseURL(nodePos(f.path, findVal(n, "baseURL")), t.BaseURL)
	}
	cn := findVal(n, "credentials")
	cv, _ := v["credentials"].(map[string]any)
	sec := func(k string) Secret {
		if _, ok := cv[k]; !ok {
			return Secret{}
		}
		s := r.secret(f.path, findVal(cn, k), cv[k])
		return s
	}
	c := &t.Credentials
	c.User, c.Organization = sec("user"), sec("organization")
	c.AccessToken, c.APIKey = sec("accessToken"), sec("apiKey")
	c.IMSOrg, c.Sandbox = str(cv["imsOrg"]), str(cv["sandbox"])
	for i, s := range []Secret{c.User, c.Organization, c.AccessToken, c.APIKey} {
		if s.Source == SecretLiteral && s.Resolved() {
			name := []string{"user", "organization", "accessToken", "apiKey"}[i]
			r.warnf(s.Pos, literalHint, "target.credentials.%s: literal secret in the manifest", name)
		}
	}
}

// secret builds a Secret from a value the schema accepted.
func (r *run) secret(file string, n *yaml.Node, v any) Secret {
	pos := nodePos(file, n)
	switch x := v.(type) {
	case string:
		s := LiteralSecret(x)
		s.Pos = pos
		return s
	case map[string]any:
		if e, ok := x["env"].(string); ok {
			return Secret{Source: SecretEnv, Ref: e, Pos: pos}
		}
		if p, ok := x["file"].(string); ok {
			return Secret{Source: SecretFile, Ref: p, Pos: pos}
		}
	}
	return Secret{Pos: pos}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// countAccounts reports a run over MaxAccounts; it returns false then.
func (r *run) countAccounts() bool {
	total := 0
	for _, f := range r.files {
		if f.dead {
			continue
		}
		n := len(f.items)
		if f.split != nil {
			n = len(f.split.items)
		}
		total += n
		if total > MaxAccounts {
			r.errorf(nodePos(f.path, f.accountsKey), "split the run into several runs with different sets, or use --shard", "the run has more than %d accounts", MaxAccounts)
			return false
		}
	}
	return true
}

// batch is a slice of one file's accounts that one worker loads.
type batch struct {
	f      *fileState
	first  int       // index in the file's accounts of the batch's first account
	n      int       // accounts in the batch
	dst    []Account // the batch's slots of the run's accounts
	valid  []bool    // which slots hold a loaded account
	probs  []Problem
	failed bool // the fast path could not parse it: reparse the whole file
}

// accounts parses (fast path), converts, validates, merges and checks every
// account, in batches across GOMAXPROCS workers, each writing its own slots.
func (r *run) accounts() []Account {
	var batches []*batch
	total := 0
	for _, f := range r.files {
		if f.dead {
			continue
		}
		n := len(f.items)
		if f.split != nil {
			n = len(f.split.items)
		}
		for i := 0; i < n; i += batchSize {
			batches = append(batches, &batch{f: f, first: i, n: min(batchSize, n-i)})
		}
		total += n
	}
	out := make([]Account, total)
	at := 0
	for _, b := range batches {
		b.dst = out[at : at+b.n : at+b.n]
		at += b.n
	}
	r.defFields = fromDefaults(fieldsOf(r.defaultsFile, r.defaults, r.defaultsVal))
	if a := r.defFields["auth"]; a.ok() {
		r.defAuthFields = fromDefaults(fieldsOf(a.file, a.val, a.v))
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	workers := min(runtime.GOMAXPROCS(0), len(batches))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(batches) {
					return
				}
				r.loadBatch(batches[i])
			}
		}()
	}
	wg.Wait()

	// Compact in place; files the fast path could not split are parsed whole
	// and loaded here.
	redo := map[*fileState]bool{}
	for _, b := range batches {
		if b.failed {
			redo[b.f] = true
		}
	}
	n := 0
	for _, b := range batches {
		if redo[b.f] {
			if b.first == 0 {
				for _, a := range r.reload(b.f) {
					if n < len(out) {
						out[n] = a
					} else {
						out = append(out, a)
					}
					n++
				}
			}
			continue
		}
		r.probs = append(r.probs, b.probs...)
		for i := range b.dst {
			if b.valid[i] {
				out[n] = b.dst[i]
				n++
			}
		}
	}
	clear(out[n:])
	return out[:n:n]
}

// reload parses a whole file whose accounts the fast path could not parse.
func (r *run) reload(f *fileState) []Account {
	doc, probs := parseDoc(f.path, f.data)
	if probs != nil {
		// The file is not YAML after all: what its shell said does not count.
		kept := r.probs[:0]
		for _, p := range r.probs {
			if p.Pos.File != f.path {
				kept = append(kept, p)
			}
		}
		r.probs = append(kept, probs...)
		f.dead = true
		return nil
	}
	seq := findVal(mappingOf(doc), "accounts")
	if seq == nil || seq.Kind != yaml.SequenceNode {
		return nil
	}
	f.split = nil
	f.items = seq.Content
	b := &batch{f: f, n: len(f.items), dst: make([]Account, len(f.items))}
	r.loadBatch(b)
	r.probs = append(r.probs, b.probs...)
	var out []Account
	for i, a := range b.dst {
		if b.valid[i] {
			out = append(out, a)
		}
	}
	return out
}

// loadBatch loads the accounts of one batch.
func (r *run) loadBatch(b *batch) {
	f := b.f
	items := f.items
	first := b.first
	if f.split != nil {
		s := f.split
		start := s.items[b.first]
		end := s.end
		if last := b.first + b.n; last < len(s.items) {
			end = s.items[last].offset
		}
		doc, probs := parseDoc(f.path, f.data[start.offset:end])
		seq := mappingOf(doc)
		if probs != nil || seq == nil || seq.Kind != yaml.SequenceNode || len(seq.Content) != b.n {
			b.failed = true
			return
		}
		shiftLines(seq, start.line-1)
		items, first = seq.Content, 0
	}
	b.valid = make([]bool, b.n)
	for i := range b.n {
		probs, ok := r.account(&b.dst[i], f.path, b.first+i, items[first+i])
		b.probs = append(b.probs, probs...)
		b.valid[i] = ok
	}
}

func shiftLines(n *yaml.Node, by int) {
	n.Line += by
	for _, c := range n.Content {
		shiftLines(c, by)
	}
}

// uniqueNames reports account names used twice in the run.
func (r *run) uniqueNames(accounts []Account) {
	seen := make(map[string]Pos, len(accounts))
	for _, a := range accounts {
		if p, ok := seen[a.Name]; ok {
			r.errorf(a.Pos, "names are unique across all files of a run", "account name %q is already used at %s", a.Name, p)
			continue
		}
		seen[a.Name] = a.Pos
	}
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var setLine = regexp.MustCompile(`(?m)^set:[ \t]*["']?([^"'#\s]+)`)

// Runs splits the files and folders given to validate into runs, one per set:
// files that name different sets cannot form one run, so each set's files are
// checked together, and files without a set join the only set named (or form
// one run together when no or several sets are named). The set is read from
// the file's text (a "set:" line at column 0); Load checks the rest. Files keep
// their order; an unreadable path stays in the first run, where Load reports it.
func Runs(paths []string) [][]string {
	var order, all []string
	groups := map[string][]string{}
	var loose []string
	for _, p := range paths {
		files := []string{p}
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			if ents, err := os.ReadDir(p); err == nil {
				files = files[:0]
				for _, e := range ents {
					ext := strings.ToLower(filepath.Ext(e.Name()))
					if !e.IsDir() && (ext == ".yaml" || ext == ".yml") && !strings.HasPrefix(e.Name(), ".") {
						files = append(files, filepath.Join(p, e.Name()))
					}
				}
				if len(files) == 0 {
					files = []string{p}
				}
			}
		}
		for _, f := range files {
			all = append(all, f)
			set := ""
			if b, err := safefile.ReadFile(f, MaxFileSize); err == nil {
				if m := setLine.FindSubmatch(b); m != nil {
					set = string(m[1])
				}
			}
			if set == "" {
				loose = append(loose, f)
				continue
			}
			if _, ok := groups[set]; !ok {
				order = append(order, set)
			}
			groups[set] = append(groups[set], f)
		}
	}
	if len(order) <= 1 {
		return [][]string{all}
	}
	var out [][]string
	if len(loose) > 0 {
		out = append(out, loose)
	}
	for _, s := range order {
		out = append(out, groups[s])
	}
	return out
}
