package provision

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/hubprov/hubprov/internal/safefile"
)

// Journal is the run's write-ahead log: JSON Lines beside the report, mode
// 0600. Before each create, an intent record is written and fsynced: Intent
// returns only once it is durable, so a create is never sent without a record
// that announces it. After each account, an outcome record with the instance
// id (fsynced in batches: a lost outcome only makes the next run look the
// account up). Every record names the set, platform and base URL it concerns.
// The first failed write (a full disk, an I/O error) makes every later write
// fail with the same error, so a half-written line is never followed by more
// records. It never holds a secret: records name accounts, actions, statuses
// and instance ids only.
type Journal struct {
	target JournalTarget

	mu       sync.Mutex // guards f's writes and the fields below
	f        *os.File
	err      error  // the first write or sync failure; sticky
	written  uint64 // records written
	synced   uint64 // records known durable
	lastSync time.Time
	// failAfter, when positive, makes writes fail (a torn line, then
	// ENOSPC) once that many records have been written: the tests' full disk.
	failAfter uint64

	syncMu sync.Mutex // one fsync at a time; a waiting writer's records ride along
}

// JournalTarget is what a journal's records concern: one set on one platform
// at one base URL.
type JournalTarget struct {
	Set      string `json:"set"`
	Platform string `json:"platform"`
	BaseURL  string `json:"baseURL"`
}

func (t JournalTarget) String() string {
	return fmt.Sprintf("set %q on %s (%s)", t.Set, t.Platform, t.BaseURL)
}

// maxJournal bounds the size of a journal ReadJournal reads: two records of
// about 200 bytes for each of manifest.MaxAccounts accounts, many times over.
const maxJournal = 256 << 20

const (
	syncEvery    = 100
	syncInterval = time.Second
)

// The record types.
const (
	recIntent  = "intent"  // a create is about to be sent
	recOutcome = "outcome" // how an account ended
	recKnown   = "known"   // an instance a run adopted that the list did not show, carried forward
)

// JournalRecord is one line of the journal.
type JournalRecord struct {
	Time       time.Time `json:"time"`
	Type       string    `json:"type"` // "intent", "outcome" or "known"
	Set        string    `json:"set,omitempty"`
	Platform   string    `json:"platform,omitempty"`
	BaseURL    string    `json:"baseURL,omitempty"`
	Name       string    `json:"name"`
	Action     Action    `json:"action,omitempty"`
	Status     Status    `json:"status,omitempty"`
	InstanceID string    `json:"instanceId,omitempty"`
	Class      Class     `json:"class,omitempty"`
}

func (r JournalRecord) target() JournalTarget {
	return JournalTarget{Set: r.Set, Platform: r.Platform, BaseURL: r.BaseURL}
}

// JournalState is what ReadJournal found in a journal file.
type JournalState struct {
	Records []JournalRecord
	// TornTail says the last line was incomplete (a crash or a full disk
	// mid-write) and was ignored.
	TornTail bool
	// Corrupt lists the line numbers of unreadable lines before the last one.
	Corrupt []int
	// CorruptNames are the account names still legible in those lines;
	// CorruptUnknown says at least one of them names none.
	CorruptNames   []string
	CorruptUnknown bool
}

// nameField finds the account name in what is left of a corrupt record.
var nameField = regexp.MustCompile(`"name":("(?:[^"\\]|\\.)*")`)

// ReadJournal reads a journal file. A missing file has no records. A torn last
// line is ignored (TornTail); an unreadable line elsewhere does not make the
// journal unusable: it is listed in Corrupt, with the account it names when
// that is legible, so the run can look those accounts up before any create.
func ReadJournal(path string) (JournalState, error) {
	f, err := safefile.OpenReader(path, maxJournal)
	if errors.Is(err, fs.ErrNotExist) {
		return JournalState{}, nil
	}
	if err != nil {
		return JournalState{}, fmt.Errorf("read journal: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return JournalState{}, fmt.Errorf("read journal: %w", err)
	}
	return parseJournal(data), nil
}

// parseJournal reads the records of a journal's contents (see ReadJournal).
func parseJournal(data []byte) JournalState {
	var st JournalState
	lines := bytes.Split(data, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1] // the newline ending the last record
	}
	for i, line := range lines {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r JournalRecord
		if err := json.Unmarshal(line, &r); err == nil && r.Type != "" {
			st.Records = append(st.Records, r)
			continue
		}
		if i == len(lines)-1 {
			st.TornTail = true
			continue
		}
		st.Corrupt = append(st.Corrupt, i+1)
		var name string
		if m := nameField.FindSubmatch(line); m != nil && json.Unmarshal(m[1], &name) == nil && name != "" {
			st.CorruptNames = append(st.CorruptNames, name)
		} else {
			st.CorruptUnknown = true
		}
	}
	return st
}

// Recovery is what a run must settle, before it creates anything, about the
// runs that wrote a journal (and the report) before it.
type Recovery struct {
	// Pending are the accounts whose create may have been sent without its
	// outcome being recorded: each is looked up by its marker.
	Pending []string
	// PendingSince is when the latest of the journal's pending creates was
	// announced: a create sent then may not show in a lagging list yet.
	PendingSince time.Time
	// Known maps accounts to the instance id a journal or report recorded:
	// one the list does not show is read by id (lists may lag).
	Known map[string]string
}

// ForeignIntentsError says a journal holds creates of another set (or another
// platform or base URL) whose outcome is unknown: a run of this set cannot
// look them up, and starting a new journal would lose them.
type ForeignIntentsError struct {
	Target JournalTarget
	Names  []string
}

func (e *ForeignIntentsError) Error() string {
	return fmt.Sprintf("the journal holds %d unresolved creates of %s, left by an interrupted run", len(e.Names), e.Target)
}

// Recovery returns what a run for target must settle first. Records without a
// target (older journals) count as target's. The accounts a corrupt line may
// concern are pending too: all of accounts when the line names none. It
// fails with a *ForeignIntentsError when another target's creates are unresolved.
func (st JournalState) Recovery(target JournalTarget, accounts []string) (Recovery, error) {
	rec := Recovery{Known: map[string]string{}}
	type key struct {
		t    JournalTarget
		name string
	}
	open := map[key]bool{}
	announced := map[key]time.Time{}
	var order []key
	for _, r := range st.Records {
		t := r.target()
		if t == (JournalTarget{}) {
			t = target
		}
		k := key{t, r.Name}
		switch r.Type {
		case recIntent:
			if !open[k] {
				order = append(order, k)
			}
			open[k] = true
			announced[k] = r.Time
		case recOutcome, recKnown:
			if r.Type == recOutcome && r.Action == Create && r.Status == Skipped && r.InstanceID == "" {
				// Cut off in flight, or left pending: the create may have
				// been made, so its intent stays open.
				continue
			}
			delete(open, k)
			if t != target {
				continue
			}
			switch {
			case r.Action == Delete && r.Status == Succeeded:
				delete(rec.Known, r.Name)
			case r.InstanceID != "" && r.Action != Delete:
				rec.Known[r.Name] = r.InstanceID
			}
		}
	}
	foreign := map[JournalTarget][]string{}
	seen := map[string]bool{}
	for _, k := range order {
		if !open[k] {
			continue
		}
		if k.t != target {
			foreign[k.t] = append(foreign[k.t], k.name)
			continue
		}
		if !seen[k.name] {
			seen[k.name] = true
			rec.Pending = append(rec.Pending, k.name)
			rec.PendingSince = laterOf(rec.PendingSince, announced[k])
		}
	}
	if len(foreign) > 0 {
		ts := make([]JournalTarget, 0, len(foreign))
		for t := range foreign {
			ts = append(ts, t)
		}
		sort.Slice(ts, func(i, j int) bool { return ts[i].String() < ts[j].String() })
		return rec, &ForeignIntentsError{Target: ts[0], Names: foreign[ts[0]]}
	}
	suspects := st.CorruptNames
	if st.CorruptUnknown {
		suspects = accounts
	}
	for _, n := range suspects {
		if !seen[n] {
			seen[n] = true
			rec.Pending = append(rec.Pending, n)
		}
	}
	return rec, nil
}

// CreateJournal starts a new journal at path for target, replacing any old
// one: read the old one first with ReadJournal and settle its Recovery. The
// file is created with mode 0600; a symbolic link at path is refused, never followed.
func CreateJournal(path string, target JournalTarget) (*Journal, error) {
	f, err := safefile.OpenFile(path, os.O_TRUNC|os.O_APPEND)
	if err != nil {
		return nil, fmt.Errorf("create journal: %w", err)
	}
	return &Journal{f: f, target: target, lastSync: time.Now()}, nil
}

// Intent records that a create of name is about to be sent, and returns once
// the record is on disk. On an error the create must not be sent.
func (j *Journal) Intent(name string) error {
	seq, err := j.append(JournalRecord{Type: recIntent, Name: name, Action: Create})
	if err != nil {
		return err
	}
	return j.syncTo(seq)
}

// Outcome records how an account ended.
func (j *Journal) Outcome(r Result) error {
	rec := JournalRecord{Type: recOutcome, Name: r.Name, Action: r.Action.Word(), Status: r.Status, InstanceID: r.InstanceID}
	if r.Error != nil {
		rec.Class = r.Error.Class
	}
	seq, err := j.append(rec)
	if err != nil {
		return err
	}
	j.mu.Lock()
	due := seq-j.synced >= syncEvery || time.Since(j.lastSync) >= syncInterval
	j.mu.Unlock()
	if due {
		return j.syncTo(seq)
	}
	return nil
}

// Known carries forward an instance the run adopted without the list showing
// it (found by marker after a crash, or read by id), so that a crash of this
// run before its report is written does not forget it.
func (j *Journal) Known(name, instanceID string) error {
	_, err := j.append(JournalRecord{Type: recKnown, Name: name, InstanceID: instanceID})
	return err
}

// errDiskFull is the error of the tests' full disk.
var errDiskFull = &fs.PathError{Op: "write", Path: "journal", Err: errors.New("no space left on device")}

func (j *Journal) append(rec JournalRecord) (uint64, error) {
	rec.Time = time.Now().UTC()
	rec.Set, rec.Platform, rec.BaseURL = j.target.Set, j.target.Platform, j.target.BaseURL
	b, err := json.Marshal(rec)
	if err != nil {
		return 0, fmt.Errorf("journal: %w", err)
	}
	b = append(b, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return 0, j.err
	}
	if j.failAfter > 0 && j.written >= j.failAfter {
		_, _ = j.f.Write(b[:len(b)/2])
		j.err = fmt.Errorf("journal: %w", errDiskFull)
		return 0, j.err
	}
	if _, err := j.f.Write(b); err != nil {
		j.err = fmt.Errorf("journal: %w", err)
		return 0, j.err
	}
	j.written++
	return j.written, nil
}

// syncTo returns once record seq is on disk. Writers that arrive while an
// fsync runs share the next one.
func (j *Journal) syncTo(seq uint64) error {
	j.syncMu.Lock()
	defer j.syncMu.Unlock()
	j.mu.Lock()
	err, done, upTo := j.err, j.synced, j.written
	j.mu.Unlock()
	if err != nil {
		return err
	}
	if done >= seq {
		return nil
	}
	serr := j.f.Sync()
	j.mu.Lock()
	defer j.mu.Unlock()
	j.lastSync = time.Now()
	if serr != nil {
		if j.err == nil {
			j.err = fmt.Errorf("journal: %w", serr)
		}
		return j.err
	}
	j.synced = max(j.synced, upTo)
	return nil
}

// Err returns the journal's first write failure, or nil.
func (j *Journal) Err() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}

// Close syncs and closes the journal.
func (j *Journal) Close() error {
	j.mu.Lock()
	n := j.written
	j.mu.Unlock()
	err := j.syncTo(n)
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	return err
}
