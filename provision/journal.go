package provision

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/hubprov/hubprov/internal/safefile"
)

// Journal is the run's intent/outcome log: JSON Lines, mode 0600, one write per
// record so a crash tears at most the last line, fsync every syncEvery records
// or syncInterval and at Close. It never holds a secret: records name accounts,
// actions, statuses and instance ids only.
type Journal struct {
	mu       sync.Mutex
	f        *os.File
	unsynced int
	lastSync time.Time
}

// maxJournal bounds the size of a journal ReadJournal reads: two records of
// about 200 bytes for each of manifest.MaxAccounts accounts, many times over.
const maxJournal = 256 << 20

const (
	syncEvery    = 100
	syncInterval = time.Second
)

// JournalRecord is one line of the journal.
type JournalRecord struct {
	Time       time.Time `json:"time"`
	Type       string    `json:"type"` // "intent" or "outcome"
	Name       string    `json:"name"`
	Action     Action    `json:"action,omitempty"`
	Status     Status    `json:"status,omitempty"`
	InstanceID string    `json:"instanceId,omitempty"`
	Class      Class     `json:"class,omitempty"`
}

// ReadJournal reads the records of a journal file. A missing file has none; a
// torn last line (a crash mid-write) is ignored; corruption elsewhere is an error.
func ReadJournal(path string) ([]JournalRecord, error) {
	f, _, err := safefile.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	defer f.Close()
	var recs []JournalRecord
	sc := bufio.NewScanner(safefile.Reader(f, maxJournal))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	var bad int
	line := 0
	for sc.Scan() {
		line++
		if bad > 0 {
			return nil, fmt.Errorf("read journal %s: line %d is corrupt", path, bad)
		}
		var r JournalRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			bad = line
			continue
		}
		recs = append(recs, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	return recs, nil
}

// PendingCreates returns the accounts whose create was announced but whose
// outcome was never recorded: a crash may have created them.
func PendingCreates(recs []JournalRecord) []string {
	open := map[string]bool{}
	var order []string
	for _, r := range recs {
		switch r.Type {
		case "intent":
			if !open[r.Name] {
				order = append(order, r.Name)
			}
			open[r.Name] = true
		case "outcome":
			delete(open, r.Name)
		}
	}
	var out []string
	for _, n := range order {
		if open[n] {
			out = append(out, n)
		}
	}
	return out
}

// CreateJournal starts a new journal at path, replacing any old one. Read the
// old one first with ReadJournal. The file is created with mode 0600; a
// symbolic link at path is refused, never followed.
func CreateJournal(path string) (*Journal, error) {
	f, err := safefile.OpenFile(path, os.O_TRUNC|os.O_APPEND)
	if err != nil {
		return nil, fmt.Errorf("create journal: %w", err)
	}
	return &Journal{f: f, lastSync: time.Now()}, nil
}

// Intent records that a create of name is about to be sent.
func (j *Journal) Intent(name string) error {
	return j.write(JournalRecord{Time: time.Now().UTC(), Type: "intent", Name: name, Action: Create})
}

// Outcome records how an account ended.
func (j *Journal) Outcome(r Result) error {
	rec := JournalRecord{Time: time.Now().UTC(), Type: "outcome", Name: r.Name, Action: r.Action.Word(), Status: r.Status, InstanceID: r.InstanceID}
	if r.Error != nil {
		rec.Class = r.Error.Class
	}
	return j.write(rec)
}

func (j *Journal) write(rec JournalRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, err := j.f.Write(b); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	j.unsynced++
	if j.unsynced >= syncEvery || time.Since(j.lastSync) >= syncInterval {
		return j.syncLocked()
	}
	return nil
}

// Sync flushes the journal to disk.
func (j *Journal) Sync() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.syncLocked()
}

func (j *Journal) syncLocked() error {
	j.unsynced = 0
	j.lastSync = time.Now()
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// Close syncs and closes the journal.
func (j *Journal) Close() error {
	err := j.Sync()
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	return err
}
