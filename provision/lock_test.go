package provision

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRunLockRefusesASecondRunNamingTheHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "report.json.lock")
	started := time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)
	first, err := AcquireRunLock(context.Background(), path, 0, LockHolder{PID: 4242, Host: "runner-1", StartedAt: started, Command: "hubprov apply -f m.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = AcquireRunLock(context.Background(), path, 0, LockHolder{PID: 1})
	var le *LockedError
	if !errors.As(err, &le) {
		t.Fatalf("second acquire: %v, want a *LockedError", err)
	}
	if le.Holder.PID != 4242 || le.Holder.Host != "runner-1" || !le.Holder.StartedAt.Equal(started) || le.Holder.Command != "hubprov apply -f m.yaml" {
		t.Fatalf("holder %+v", le.Holder)
	}
	for _, want := range []string{"pid 4242", "runner-1", "2026-12-01T21:00:00Z", "hubprov apply -f m.yaml", path} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not name %q", err, want)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("lock file: %v, %v", fi, err)
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	again, err := AcquireRunLock(context.Background(), path, 0, LockHolder{PID: 2})
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	again.Release()
}

// TestRunLockWaitsForTheHoldersRecord: two runs started at once meet
// between the first taking the lock and writing its record; the refused run
// waits for the record, and names the holder instead of "another run".
func TestRunLockWaitsForTheHoldersRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "report.json.lock")
	first, err := AcquireRunLock(context.Background(), path, 0, LockHolder{PID: 4242, Host: "runner-1"})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Release()
	reads := 0
	holderOf = func(path string) LockHolder {
		if reads++; reads < 3 {
			return LockHolder{} // not written yet
		}
		return readHolder(path)
	}
	defer func() { holderOf = readHolder }()
	_, err = AcquireRunLock(context.Background(), path, 0, LockHolder{PID: 1})
	var le *LockedError
	if !errors.As(err, &le) || le.Holder.PID != 4242 || reads != 3 {
		t.Fatalf("refused with %v after %d reads of the record; want pid 4242 named, at the third", err, reads)
	}
}

// TestRunLockWaitsForTheHolder: with a wait, the second run gets the lock the
// moment the first releases it.
func TestRunLockWaitsForTheHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.lock")
	first, err := AcquireRunLock(context.Background(), path, 0, LockHolder{PID: 1})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		l, err := AcquireRunLock(context.Background(), path, time.Hour, LockHolder{PID: 2})
		if err == nil {
			l.Release()
		}
		got <- err
	}()
	first.Release()
	if err := <-got; err != nil {
		t.Fatalf("waiting acquire: %v", err)
	}

	// An interrupted wait gives up with the holder named.
	first, _ = AcquireRunLock(context.Background(), path, 0, LockHolder{PID: 7, Host: "h"})
	defer first.Release()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = AcquireRunLock(ctx, path, time.Hour, LockHolder{PID: 3})
	var le *LockedError
	if !errors.As(err, &le) || le.Holder.PID != 7 {
		t.Fatalf("cancelled wait: %v", err)
	}
}

func TestRunLockRefusesASymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "elsewhere")
	if err := os.WriteFile(target, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "r.lock")
	if err := os.Symlink(target, link); err != nil {
		t.Skip(err)
	}
	if _, err := AcquireRunLock(context.Background(), link, 0, LockHolder{PID: 1}); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("acquire through a symlink: %v", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Fatalf("the link's target was written: %q", b)
	}
}
