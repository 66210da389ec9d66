package safefile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// inputs returns the paths every reader must refuse, by what they are.
func inputs(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"device": "/dev/zero", "fifo without a writer": fifo, "folder": dir}
}

func TestReadFileRefusesWhatIsNotRegular(t *testing.T) {
	for what, path := range inputs(t) {
		t.Run(what, func(t *testing.T) {
			_, err := ReadFile(path, 1<<20)
			if !errors.Is(err, ErrNotRegular) {
				t.Fatalf("ReadFile(%s) = %v, want ErrNotRegular", path, err)
			}
		})
	}
}

func TestReadFileLimit(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(p, make([]byte, 1025), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(p, 1024); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "over 1 KiB") {
		t.Fatalf("err = %v, want ErrTooLarge over 1 KiB", err)
	}
	b, err := ReadFile(p, 1025)
	if err != nil || len(b) != 1025 {
		t.Fatalf("at the limit: %d bytes, %v", len(b), err)
	}
}

func TestReaderStopsAtLimit(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(p, make([]byte, 5000), 0o600); err != nil {
		t.Fatal(err)
	}
	f, _, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, err := io.Copy(io.Discard, Reader(f, 4096))
	if !errors.Is(err, ErrTooLarge) || n > 4097 {
		t.Fatalf("read %d bytes, err %v", n, err)
	}
}

// plant returns a path that is a symbolic link to a file holding "precious",
// mode 0644.
func plant(t *testing.T) (link, target string) {
	t.Helper()
	dir := t.TempDir()
	target = filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	link = filepath.Join(dir, "out.json")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	return link, target
}

func unchanged(t *testing.T, link, target string) {
	t.Helper()
	b, err := os.ReadFile(target)
	st, serr := os.Stat(target)
	if err != nil || serr != nil || string(b) != "precious" || st.Mode().Perm() != 0o644 {
		t.Errorf("target changed: %q, %v", b, st.Mode())
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced")
	}
}

func TestWritersRefuseASymlink(t *testing.T) {
	t.Run("OpenFile", func(t *testing.T) {
		link, target := plant(t)
		f, err := OpenFile(link, os.O_TRUNC|os.O_APPEND)
		if err == nil {
			f.Close()
		}
		if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "symbolic link") {
			t.Fatalf("err = %v, want a refused symbolic link", err)
		}
		unchanged(t, link, target)
	})
	t.Run("WriteAtomic", func(t *testing.T) {
		link, target := plant(t)
		err := WriteAtomic(link, func(w io.Writer) error { _, err := io.WriteString(w, "overwritten"); return err })
		if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "symbolic link") {
			t.Fatalf("err = %v, want a refused symbolic link", err)
		}
		unchanged(t, link, target)
		if left, _ := filepath.Glob(filepath.Join(filepath.Dir(link), ".hubprov-*")); len(left) > 0 {
			t.Errorf("temporary files left: %v", left)
		}
	})
	t.Run("OpenFile FIFO", func(t *testing.T) {
		fifo := inputs(t)["fifo without a writer"]
		if _, err := OpenFile(fifo, os.O_APPEND); err == nil {
			t.Fatal("a FIFO was opened as an output")
		}
	})
}

func TestWritersMode0600(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "journal")
	if err := os.WriteFile(old, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFile(old, os.O_TRUNC|os.O_APPEND)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	rep := filepath.Join(dir, "report.json")
	if err := WriteAtomic(rep, func(w io.Writer) error { _, err := io.WriteString(w, "{}"); return err }); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{old, rep} {
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; want 0600", p, st.Mode(), err)
		}
	}
}
