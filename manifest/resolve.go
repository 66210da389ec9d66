package manifest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// maxSecretFile bounds a secret file's size.
const maxSecretFile = 1 << 20

// Resolve replaces every env and file reference of m by its value, in place.
// getenv reads the environment (os.Getenv in production). A file path is
// relative to the folder of the manifest file that names it; the file must not
// be readable or writable by group or others, and one trailing newline is
// trimmed. Each cause is reported once: an unset variable or a bad file is one
// problem at its first reference, naming how many accounts use it; no problem
// ever holds a value.
func (m *Manifest) Resolve(getenv func(string) string) []Problem {
	var probs []Problem
	files := map[string]fileResult{}
	unset := map[string]*unsetRef{}
	badFile, badRefs := map[string]int{}, map[string]int{} // a bad secret file's problem (index), its references
	var order []string
	secrets := m.Secrets()
	for i, s := range secrets {
		switch s.Source {
		case SecretEnv:
			if s.resolved {
				continue
			}
			v := getenv(s.Ref)
			if v == "" {
				u := unset[s.Ref]
				if u == nil {
					u = &unsetRef{first: s.Pos, accounts: map[int]bool{}}
					unset[s.Ref] = u
					order = append(order, s.Ref)
				}
				u.refs++
				if i >= targetSecrets {
					u.accounts[(i-targetSecrets)/accountSecrets] = true
				} else {
					u.target = true
				}
				continue
			}
			s.setValue(v)
		case SecretFile:
			if s.resolved {
				continue
			}
			path := s.Ref
			if !filepath.IsAbs(path) {
				path = filepath.Join(filepath.Dir(s.Pos.File), path)
			}
			res, ok := files[path]
			if !ok {
				res = readSecretFile(path)
				files[path] = res
			}
			if res.prob != nil {
				if _, seen := badFile[path]; !seen {
					p := *res.prob
					p.Pos = s.Pos
					p.Message = fmt.Sprintf("secret file %s: %s", s.Ref, p.Message)
					badFile[path] = len(probs)
					probs = append(probs, p)
				}
				badRefs[path]++
				continue
			}
			s.setValue(res.value)
		}
	}
	for path, i := range badFile {
		// A bad secret file is one problem, however many reference it.
		if badRefs[path] > 1 {
			probs[i].Message += fmt.Sprintf(" (%d references; the first here)", badRefs[path])
		}
	}
	for _, name := range order {
		u := unset[name]
		msg := fmt.Sprintf("environment variable %s is not set or is empty", name)
		if n := len(u.accounts); n > 0 && u.refs > 1 {
			who := fmt.Sprintf("%d accounts", n)
			if n == 1 {
				who = "1 account"
			}
			if u.target {
				who = "target.credentials and " + who
			}
			if u.refs > n+boolInt(u.target) {
				who += fmt.Sprintf(", %d references", u.refs)
			}
			msg += fmt.Sprintf(" (used by %s; the first here)", who)
		}
		probs = append(probs, Problem{Pos: u.first, Severity: Error, Message: msg,
			Hint: fmt.Sprintf("export %s before running hubprov, e.g. with sops exec-env", name)})
	}
	rank := map[string]int{}
	for i, f := range m.Files {
		rank[f.Path] = i
	}
	return sortProblems(probs, rank)
}

// unsetRef gathers the references to one unset environment variable.
type unsetRef struct {
	first    Pos
	refs     int
	target   bool         // target.credentials uses it
	accounts map[int]bool // the accounts that use it, by index
}

// The layout of Secrets: the target's secrets, then each account's.
const (
	targetSecrets  = 4
	accountSecrets = 5
)

// fileResult is the outcome of reading one secret file.
type fileResult struct {
	value string
	prob  *Problem
}

func readSecretFile(path string) (r fileResult) {
	fail := func(hint, format string, args ...any) {
		r.prob = &Problem{Severity: Error, Message: fmt.Sprintf(format, args...), Hint: hint}
	}
	st, err := os.Stat(path)
	if err != nil {
		fail("the path is relative to the manifest's folder", "%s", errText(err))
		return
	}
	if !st.Mode().IsRegular() {
		fail("", "not a regular file")
		return
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		fail(fmt.Sprintf("run: chmod 600 %s", path), "permissions %04o are too open: the file is readable or writable by others", perm)
		return
	}
	if st.Size() > maxSecretFile {
		fail("", "larger than %d KiB", maxSecretFile>>10)
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		fail("", "%s", errText(err))
		return
	}
	v := string(b)
	if strings.HasSuffix(v, "\r\n") {
		v = v[:len(v)-2]
	} else {
		v = strings.TrimSuffix(v, "\n")
	}
	if v == "" {
		fail("", "the file is empty")
		return
	}
	r.value = v
	return
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
