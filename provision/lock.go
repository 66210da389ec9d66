package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hubprov/hubprov/internal/safefile"
)

// RunLock is the exclusive lock one apply or destroy holds on REPORT.lock for
// its whole run, so two runs never share a report and its journal. It is an
// OS file lock (flock): the kernel releases it when the process dies, so a
// crashed run leaves nothing to clean up. The file holds a LockHolder record,
// which a refused run reads to name who holds it.
type RunLock struct {
	f *os.File
}

// LockHolder describes the run that holds a RunLock.
type LockHolder struct {
	PID       int       `json:"pid"`
	Host      string    `json:"host"`
	StartedAt time.Time `json:"startedAt"`
	Command   string    `json:"command"`
}

func (h LockHolder) String() string {
	if h.PID == 0 {
		return "another run (it has not recorded itself yet)"
	}
	return fmt.Sprintf("pid %d on %s, started %s: %s", h.PID, h.Host, h.StartedAt.Format(time.RFC3339), h.Command)
}

// LockedError is returned by AcquireRunLock when another run holds the lock.
type LockedError struct {
	Path   string
	Holder LockHolder
	Waited time.Duration // how long the caller waited; 0 for a refusal at once
}

func (e *LockedError) Error() string {
	msg := fmt.Sprintf("another run holds %s: %s", e.Path, e.Holder)
	if e.Waited > 0 {
		msg += fmt.Sprintf(" (waited %s)", e.Waited.Round(time.Millisecond))
	}
	return msg
}

// lockPoll is how often a waiting AcquireRunLock tries the lock again.
var lockPoll = 50 * time.Millisecond

// AcquireRunLock takes the lock at path (created 0600, never through a
// symbolic link: see safefile) and records holder in it. When another run holds it, it
// returns a *LockedError at once, or after trying for up to wait.
func AcquireRunLock(ctx context.Context, path string, wait time.Duration, holder LockHolder) (*RunLock, error) {
	f, err := safefile.OpenFile(path, 0)
	if err != nil {
		return nil, fmt.Errorf("open the run lock: %w", err)
	}
	start := time.Now()
	for {
		err := tryLock(f)
		if err == nil {
			break
		}
		if !errors.Is(err, errLockHeld) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		waited := time.Since(start)
		if waited >= wait || ctx.Err() != nil {
			h := recordedHolder(ctx, path)
			f.Close()
			le := &LockedError{Path: path, Holder: h}
			if wait > 0 {
				le.Waited = waited
			}
			return nil, le
		}
		if err := sleep(ctx, min(lockPoll, wait-waited)); err != nil && ctx.Err() == nil {
			f.Close()
			return nil, err
		}
	}
	b, _ := json.Marshal(holder)
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt(append(b, '\n'), 0)
	}
	if err != nil {
		// The lock holds without the record; a refused run says it cannot name us.
		_ = f.Truncate(0)
	}
	return &RunLock{f: f}, nil
}

// holderRecordWait is how long a refused run waits for the holder's record:
// the holder writes it just after taking the lock, and two runs started at
// once meet in between.
var holderRecordWait = 500 * time.Millisecond

// holderOf reads the holder record; tests replace it.
var holderOf = readHolder

// recordedHolder reads the holder record of a locked file, waiting up to
// holderRecordWait for it to be written.
func recordedHolder(ctx context.Context, path string) LockHolder {
	deadline := time.Now().Add(holderRecordWait)
	for {
		h := holderOf(path)
		if h.PID != 0 || !time.Now().Before(deadline) || sleep(ctx, 10*time.Millisecond) != nil {
			return h
		}
	}
}

// readHolder reads the holder record of a locked file; a zero LockHolder when
// it is not there (yet).
func readHolder(path string) LockHolder {
	var h LockHolder
	b, err := safefile.ReadFile(path, 4096)
	if err != nil {
		return h
	}
	if err := json.Unmarshal(bytes.TrimSpace(b), &h); err != nil {
		return LockHolder{}
	}
	h.Command = strings.ToValidUTF8(h.Command, "?")
	return h
}

// Release clears the holder record and releases the lock. The file stays: removing it
// would let a run lock a file another run has just opened.
func (l *RunLock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	_ = l.f.Truncate(0)
	err := unlock(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}
