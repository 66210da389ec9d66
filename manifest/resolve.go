package manifest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/hubprov/hubprov/internal/safefile"
)

// maxSecretFile bounds a secret file's size.
const maxSecretFile = 1 << 20

// Resolve replaces every env and file reference of m by its value, in place.
// getenv reads the environment (os.Getenv in production).
//
// A file reference is confined: a relative path is taken from the folder of
// the manifest file that names it and must stay inside that folder's tree
// (symbolic links followed), and an absolute path must lie under secretsDir
// (--secrets-dir; empty for none), so a pull request cannot make hubprov read
// and send any file the runner can read. The file must be a regular file of
// at most 1 MiB, not readable by others and not writable by group or others;
// group-readable is accepted when root owns it (PostgreSQL's rule for key
// files, so Kubernetes Secret volumes with fsGroup work). One trailing
// newline is trimmed. Each cause is reported once: an unset variable or a bad
// file is one problem at its first reference, naming how many accounts use
// it; no problem ever holds a value.
func (m *Manifest) Resolve(getenv func(string) string, secretsDir string) []Problem {
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
			dir := filepath.Dir(s.Pos.File)
			path := s.Ref
			if !filepath.IsAbs(path) {
				path = filepath.Join(dir, path)
			}
			key := dir + "\x00" + path
			res, ok := files[key]
			if !ok {
				res = readSecretFile(path, s.Ref, dir, secretsDir)
				files[key] = res
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

// errOutside is the error of a secret file outside the folders it may come from.
var errOutside = errors.New("outside the folders secret files may come from")

// roots returns the folders a secret file named in a manifest of folder dir
// may lie under: dir's tree for a relative path, secretsDir for any.
func roots(relative bool, dir, secretsDir string) []string {
	var out []string
	if relative {
		out = append(out, dir)
	}
	if secretsDir != "" {
		out = append(out, secretsDir)
	}
	return out
}

// within reports whether real (a path with no symbolic links) lies under one
// of the roots, whose links are resolved here.
func within(real string, roots []string) bool {
	for _, root := range roots {
		r, err := filepath.EvalSymlinks(root)
		if err != nil {
			continue
		}
		r, _ = filepath.Abs(r)
		if rel, err := filepath.Rel(r, real); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// realPath returns the path, without symbolic links, of the file open as f,
// from the kernel's record of the descriptor where there is one, so that a
// link swapped in after the check cannot escape.
func realPath(f *os.File, path string) (string, error) {
	if p, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd()))); err == nil && filepath.IsAbs(p) {
		return p, nil
	}
	p, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", err
	}
	return filepath.Abs(p)
}

// readSecretFile reads the secret file at path, written ref in a manifest of
// folder dir, refusing it (unopened) when it lies outside the allowed roots.
func readSecretFile(path, ref, dir, secretsDir string) (r fileResult) {
	fail := func(hint, format string, args ...any) {
		r.prob = &Problem{Severity: Error, Message: fmt.Sprintf(format, args...), Hint: hint}
	}
	allowed := roots(!filepath.IsAbs(ref), dir, secretsDir)
	outside := func() {
		where := fmt.Sprintf("the manifest's folder %s", dir)
		if filepath.IsAbs(ref) {
			where = "no --secrets-dir was given"
			if secretsDir != "" {
				where = "not under --secrets-dir " + secretsDir
			}
		} else if secretsDir != "" {
			where += " or --secrets-dir " + secretsDir
		}
		fail("keep secret files inside the manifest's folder, or name their folder with --secrets-dir DIR",
			"%v (%s): not read", errOutside, where)
	}
	// Checked before opening: a file outside is never opened at all.
	real, err := filepath.EvalSymlinks(path)
	if err == nil {
		real, err = filepath.Abs(real)
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			fail("the path is relative to the manifest's folder", "%s", errText(err))
		} else {
			fail("", "%s", errText(err))
		}
		return
	}
	if !within(real, allowed) {
		outside()
		return
	}
	f, st, err := safefile.Open(path)
	if err != nil {
		fail("", "%s", errText(err))
		return
	}
	defer f.Close()
	// And checked again on what was opened, in case a link moved meanwhile.
	if real, err := realPath(f, path); err != nil || !within(real, allowed) {
		outside()
		return
	}
	if msg := modeProblem(st); msg != "" {
		fail(fmt.Sprintf("run: chmod 600 %s", filepath.Clean(path)), "%s", msg)
		return
	}
	b, err := safefile.ReadAll(f, st, maxSecretFile)
	if errors.Is(err, safefile.ErrTooLarge) {
		fail("", "larger than %d KiB", maxSecretFile>>10)
		return
	}
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

// modeProblem says why a secret file's permissions are too open, or "": it
// must not be readable by others nor writable by group or others; readable by
// its group only when root owns it.
func modeProblem(st fs.FileInfo) string {
	uid := -1
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		uid = int(sys.Uid)
	}
	return modeRule(st.Mode().Perm(), uid)
}

// modeRule is modeProblem for permissions perm and owner uid (-1: unknown).
func modeRule(perm fs.FileMode, uid int) string {
	switch {
	case perm&0o007 != 0:
		return fmt.Sprintf("permissions %04o are too open: others may access the file", perm)
	case perm&0o030 != 0:
		return fmt.Sprintf("permissions %04o are too open: the file's group may write or run it", perm)
	case perm&0o040 != 0 && uid != 0:
		return fmt.Sprintf("permissions %04o are too open: the file's group may read it, and only a file root owns may be group-readable", perm)
	}
	return ""
}
