// Package safefile opens the files hubprov reads and writes, on guard against
// what a pull request or a neighbour can plant. An input is opened once, without
// blocking, checked to be a regular file on the descriptor it was opened as (so
// nothing can be swapped in between), and read within its size limit: a FIFO,
// a device or a folder is refused, never read. An output is created with mode
// 0600 and never through a symbolic link: a planted link is refused, and its
// target is left as it was.
package safefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// ErrNotRegular is the error of an input or output path that is not a regular
// file: a FIFO, a device, a socket, a folder, or (for an output) a symbolic link.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is the error of an input over its size limit.
var ErrTooLarge = errors.New("file too large")

// Mode is the permission of every file hubprov writes.
const Mode fs.FileMode = 0o600

// kind names a file type for messages.
func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m.IsDir():
		return "a folder"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "not a plain file"
}

// notRegular is the error for path whose type is m.
func notRegular(path string, m fs.FileMode) error {
	return &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w (%s)", ErrNotRegular, kind(m))}
}

// Open opens path for reading and returns it with its metadata, read from the
// open descriptor. It never blocks: a FIFO without a writer is opened without
// waiting, then refused like every other file that is not regular. A symbolic
// link to a regular file is followed (inputs are the user's to arrange).
func Open(path string) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, notRegular(path, st.Mode())
	}
	return f, st, nil
}

// ReadFile reads the regular file at path, refusing it when it holds more than
// limit bytes (also when it grows while being read).
func ReadFile(path string, limit int64) ([]byte, error) {
	f, st, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadAll(f, st, limit)
}

// ReadAll reads f, opened by Open with metadata st, within limit bytes.
func ReadAll(f *os.File, st fs.FileInfo, limit int64) ([]byte, error) {
	if st.Size() > limit {
		return nil, tooLarge(f.Name(), limit)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, tooLarge(f.Name(), limit)
	}
	return b, nil
}

func tooLarge(path string, limit int64) error {
	return &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: over %s", ErrTooLarge, size(limit))}
}

// size renders a limit in the largest binary unit that divides it.
func size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// OpenReader opens the regular file at path (as Open) for a reader that
// decodes it as a stream: a file over limit bytes is refused before it is
// read, and the reader fails with ErrTooLarge past limit if it grows.
func OpenReader(path string, limit int64) (io.ReadCloser, error) {
	f, st, err := Open(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		f.Close()
		return nil, tooLarge(path, limit)
	}
	return struct {
		io.Reader
		io.Closer
	}{Reader(f, limit), f}, nil
}

// Reader returns a reader of f, opened by Open, that fails with ErrTooLarge
// once more than limit bytes have been read, for inputs decoded as a stream.
func Reader(f *os.File, limit int64) io.Reader {
	return &limited{f: f, left: limit, limit: limit}
}

type limited struct {
	f     *os.File
	left  int64
	limit int64
}

func (l *limited) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, tooLarge(l.f.Name(), l.limit)
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.f.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n, tooLarge(l.f.Name(), l.limit)
	}
	return n, err
}

// OpenFile opens or creates the output file at path with mode 0600 (an
// existing file's mode is set to 0600), adding flag (os.O_TRUNC, os.O_APPEND,
// ...) to write-only access. A symbolic link at path is refused, not
// followed; so is anything but a regular file, without blocking on a FIFO.
func OpenFile(path string, flag int) (*os.File, error) {
	f, err := os.OpenFile(path, flag|os.O_WRONLY|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_NOCTTY, Mode)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, notRegular(path, fs.ModeSymlink)
		}
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, notRegular(path, st.Mode())
	}
	if st.Mode().Perm() != Mode {
		if err := f.Chmod(Mode); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}

// WriteAtomic writes the output file at path through a temporary file in the
// same folder (mode 0600): write, fsync, rename over path, fsync the folder. A
// crash leaves the old file or the new one, never half of one. A symbolic link
// (or anything but a regular file) at path is refused before any write, and
// the rename replaces a name, never a link's target.
func WriteAtomic(path string, write func(io.Writer) error) (err error) {
	fail := func(err error) error { return fmt.Errorf("write %s: %w", path, err) }
	if err := CheckOutput(path); err != nil {
		return fail(err)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".hubprov-*.tmp")
	if err != nil {
		return fail(err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(Mode); err != nil {
		return fail(err)
	}
	if err = write(f); err != nil {
		return fail(err)
	}
	if err = f.Sync(); err != nil {
		return fail(err)
	}
	if err = f.Close(); err != nil {
		return fail(err)
	}
	// Checked again just before the rename: a link planted while writing is
	// refused too. (The rename would replace the link, not its target.)
	if err = CheckOutput(path); err != nil {
		return fail(err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fail(err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// CheckOutput refuses an output path that exists and is not a regular file.
func CheckOutput(path string) error {
	st, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%w (%s): refusing to write through it", ErrNotRegular, kind(st.Mode()))
	}
	return nil
}
