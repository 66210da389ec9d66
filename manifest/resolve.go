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
// trimmed. Every unresolvable reference is reported, with its position; no
// problem ever holds a value.
func (m *Manifest) Resolve(getenv func(string) string) []Problem {
	var probs []Problem
	files := map[string]fileResult{}
	for _, s := range m.Secrets() {
		switch s.Source {
		case SecretEnv:
			if s.resolved {
				continue
			}
			v := getenv(s.Ref)
			if v == "" {
				probs = append(probs, Problem{Pos: s.Pos, Severity: Error,
					Message: fmt.Sprintf("environment variable %s is not set or is empty", s.Ref),
					Hint:    fmt.Sprintf("export %s before running hubprov, e.g. with sops exec-env", s.Ref)})
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
				p := *res.prob
				p.Pos = s.Pos
				p.Message = fmt.Sprintf("secret file %s: %s", s.Ref, p.Message)
				probs = append(probs, p)
				continue
			}
			s.setValue(res.value)
		}
	}
	rank := map[string]int{}
	for i, f := range m.Files {
		rank[f.Path] = i
	}
	return sortProblems(probs, rank)
}

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
