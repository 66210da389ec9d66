package provision

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"time"

	"github.com/hubprov/hubprov/manifest"
)

// SavedPlan is a plan written by `plan --out` for review and applied later by
// `apply plan.json`. It records what the plan saw, so that apply can refuse
// when the manifests or the remote state have moved since. It holds no secret:
// the spec fingerprints reveal nothing about one.
type SavedPlan struct {
	Version        int            `json:"version"`
	Kind           string         `json:"kind"` // always "hubprov-plan"
	CreatedAt      time.Time      `json:"createdAt"`
	HubprovVersion string         `json:"hubprovVersion"`
	Set            string         `json:"set"`
	Platform       string         `json:"platform"`
	BaseURL        string         `json:"baseURL"`
	Emulated       bool           `json:"emulated,omitempty"`
	Manifests      []ManifestFile `json:"manifests"`
	Prune          bool           `json:"prune,omitempty"`
	Select         []string       `json:"select,omitempty"`
	Shard          string         `json:"shard,omitempty"`
	Summary        PlanSummary    `json:"summary"`
	Changes        []SavedChange  `json:"changes"`
}

// SavedChange is one account of a SavedPlan: what the plan will do and what it saw.
type SavedChange struct {
	Name   string `json:"name"`
	Action Action `json:"action"` // as outputs name it: AwaitConsent is create, with Reason
	// Reason is ReasonAwaitingConsent for a create that waits for consent.
	Reason      string        `json:"reason,omitempty"`
	Element     string        `json:"element,omitempty"`
	Fields      []string      `json:"fields,omitempty"`
	Diff        []FieldChange `json:"diff,omitempty"`        // for an update: old -> new per field
	Fingerprint string        `json:"fingerprint,omitempty"` // the desired spec fingerprint
	Remote      *SavedRemote  `json:"remote,omitempty"`      // nil: no instance existed; for a duplicate, the one kept
	// Duplicates are, for a duplicate, the ids of the other live instances, which apply deletes.
	Duplicates []string `json:"duplicates,omitempty"`
}

// SavedRemote is the remote instance a SavedChange saw.
type SavedRemote struct {
	InstanceID  string `json:"instanceId"`
	Fingerprint string `json:"fingerprint,omitempty"`
	ETag        string `json:"etag,omitempty"`
}

// SavedPlanKind is the Kind of every SavedPlan.
const SavedPlanKind = "hubprov-plan"

// Save returns the plan in its saved form; info supplies the run's context
// (times, version, base URL, manifest files, selection).
func (p *Plan) Save(info SavedPlan) SavedPlan {
	info.Version, info.Kind = 1, SavedPlanKind
	info.Set, info.Platform = p.Set, string(p.Platform)
	info.Summary = p.Summary()
	info.Changes = make([]SavedChange, len(p.Changes))
	for i, c := range p.Changes {
		info.Changes[i] = savedChange(c)
	}
	return info
}

func savedChange(c Change) SavedChange {
	s := SavedChange{Name: c.Name, Action: c.Action.Word(), Fields: c.Fields, Diff: c.Diff}
	if c.Action == AwaitConsent {
		s.Reason = ReasonAwaitingConsent
	}
	if c.Desired != nil {
		s.Element = c.Desired.Account.Element
		s.Fingerprint = c.Desired.Fingerprint
	}
	if c.Remote != nil {
		s.Remote = &SavedRemote{InstanceID: c.Remote.ID, Fingerprint: c.Remote.Fingerprint, ETag: c.Remote.ETag}
		if s.Element == "" {
			s.Element = c.Remote.Element
		}
	}
	for _, x := range c.Extras {
		s.Duplicates = append(s.Duplicates, x.ID)
	}
	return s
}

// WriteSaved writes a saved plan as indented JSON.
func WriteSaved(w io.Writer, sp SavedPlan) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(sp)
}

// MaxSavedPlanSize bounds a saved plan file hubprov reads (200,000 accounts
// take about 100 MiB).
const MaxSavedPlanSize = 256 << 20

// ReadSaved reads a saved plan and checks that it is one. Read a file
// through safefile.Reader with MaxSavedPlanSize.
func ReadSaved(r io.Reader) (SavedPlan, error) {
	var sp SavedPlan
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sp); err != nil {
		return sp, fmt.Errorf("not a hubprov plan: %w", err)
	}
	if sp.Kind != SavedPlanKind || sp.Version != 1 {
		return sp, fmt.Errorf("not a hubprov plan (kind %q, version %d): write one with 'hubprov plan --out FILE'", sp.Kind, sp.Version)
	}
	return sp, nil
}

// Moved is an account whose plan differs between a saved plan and now.
type Moved struct {
	Name string
	Why  string
}

// Compare lists the accounts whose change or remote state differs between the
// saved plan and now, a plan made afresh from the same manifests; empty means
// applying now does exactly what the saved plan says. A planned change that
// is already carried out (an interrupted apply of this plan made it) is no
// move: a create or update whose instance, marked with the set, now carries
// the planned fingerprint and needs nothing more, or a delete whose instance
// is gone. So a rerun of an interrupted 'apply plan.json' finishes the plan.
func (sp SavedPlan) Compare(now Plan) []Moved {
	var moved []Moved
	then := make(map[string]SavedChange, len(sp.Changes))
	for _, c := range sp.Changes {
		then[c.Name] = c
	}
	seen := make(map[string]bool, len(now.Changes))
	for _, c := range now.Changes {
		seen[c.Name] = true
		cur := savedChange(c)
		old, ok := then[c.Name]
		if !ok {
			moved = append(moved, Moved{c.Name, fmt.Sprintf("not in the saved plan; now %s", c.Action)})
			continue
		}
		if why := diffSaved(old, cur); why != "" && !carriedOut(old, c) {
			moved = append(moved, Moved{c.Name, why})
		}
	}
	for _, c := range sp.Changes {
		if !seen[c.Name] && c.Action != Delete {
			moved = append(moved, Moved{c.Name, fmt.Sprintf("planned to %s, now nothing to do", c.Action)})
		}
	}
	return moved
}

func diffSaved(old, cur SavedChange) string {
	switch {
	case old.Action != cur.Action || old.Reason != cur.Reason:
		return fmt.Sprintf("planned to %s, now %s", old.word(), cur.word())
	case old.Fingerprint != cur.Fingerprint:
		return "its manifest entry changed"
	case (old.Remote == nil) != (cur.Remote == nil):
		if old.Remote == nil {
			return fmt.Sprintf("an instance appeared (%s)", cur.Remote.InstanceID)
		}
		return fmt.Sprintf("instance %s disappeared", old.Remote.InstanceID)
	case old.Remote != nil && old.Remote.InstanceID != cur.Remote.InstanceID:
		return fmt.Sprintf("instance %s was replaced by %s", old.Remote.InstanceID, cur.Remote.InstanceID)
	case old.Remote != nil && (old.Remote.Fingerprint != cur.Remote.Fingerprint || old.Remote.ETag != cur.Remote.ETag):
		return fmt.Sprintf("instance %s changed on the platform", cur.Remote.InstanceID)
	case !slices.Equal(old.Duplicates, cur.Duplicates):
		return fmt.Sprintf("its duplicate instances changed (planned to delete %v, now %v)", old.Duplicates, cur.Duplicates)
	case !slices.Equal(old.Fields, cur.Fields):
		return fmt.Sprintf("instance %s changed on the platform (fields %v, planned %v)", cur.Remote.InstanceID, cur.Fields, old.Fields)
	case !sameDiff(old.Diff, cur.Diff):
		return fmt.Sprintf("instance %s changed on the platform (a value the plan showed differs)", cur.Remote.InstanceID)
	}
	return ""
}

// carriedOut reports whether the saved change was already made: now needs
// nothing, and the instance carries the planned fingerprint (for an update,
// the same instance the plan saw).
func carriedOut(old SavedChange, now Change) bool {
	if now.Action != Unchanged || now.Remote == nil || old.Fingerprint == "" || now.Remote.Fingerprint != old.Fingerprint {
		return false
	}
	switch old.Action {
	case Create:
		return old.Reason == ""
	case Update:
		return old.Remote != nil && old.Remote.InstanceID == now.Remote.ID
	}
	return false
}

// sameDiff compares old -> new values as saved: a plan read back from its
// file holds []any where a fresh one holds []string.
func sameDiff(a, b []FieldChange) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// word is the change's action, with its reason when it has one.
func (c SavedChange) word() string {
	if c.Reason != "" {
		return string(c.Action) + " (" + c.Reason + ")"
	}
	return string(c.Action)
}

// Respecified names the accounts whose desired spec differs between the saved
// plan and accounts (those owns selects), or that are in only one of them. It
// needs no platform: it compares spec fingerprints.
func (sp SavedPlan) Respecified(set string, accounts []manifest.Account, owns func(string) bool) []string {
	then := map[string]string{}
	for _, c := range sp.Changes {
		if c.Fingerprint != "" {
			then[c.Name] = c.Fingerprint
		}
	}
	var moved []string
	now := map[string]bool{}
	for _, a := range accounts {
		if !owns(a.Name) {
			continue
		}
		now[a.Name] = true
		fp, ok := then[a.Name]
		// Without a code, MakePlan kept the instance's code part.
		if !ok || !sameSpec(fp, Fingerprint(set, a), NeedsConsent(a)) {
			moved = append(moved, a.Name)
		}
	}
	for name := range then {
		if !now[name] {
			moved = append(moved, name)
		}
	}
	sort.Strings(moved)
	return moved
}
