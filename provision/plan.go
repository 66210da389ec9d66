package provision

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/hubprov/hubprov/manifest"
)

// Action is what the plan does with one account or instance.
type Action string

// The plan's actions.
const (
	Create    Action = "create"
	Update    Action = "update"
	Unchanged Action = "unchanged"
	Delete    Action = "delete"
	// Duplicate resolves extra live instances of one account: the oldest is
	// kept, the others deleted.
	Duplicate Action = "duplicate"
	// AwaitConsent is an oauth2 account without an authorization code and
	// without an instance: nothing can be sent until its portal owner grants
	// consent (hubprov authorize-urls prints the links). It is not a change.
	// Every output shows it as the action create with the reason
	// awaiting-consent (ReasonAwaitingConsent), in the plan and the report alike.
	AwaitConsent Action = "create:awaiting-consent"
)

// Word is the action as outputs name it: create, update, unchanged, delete or
// duplicate (AwaitConsent is a create).
func (a Action) Word() Action {
	if a == AwaitConsent {
		return Create
	}
	return a
}

// Change is the plan for one account, or for one instance to delete.
type Change struct {
	Name   string
	Action Action
	// Fields names what an update changes ("tags", "description",
	// "configuration.<key>", "credentials", "spec"), in the order of Diff.
	Fields  []string
	Diff    []FieldChange // for an update: old -> new of each field
	Desired *Desired      // nil for a delete
	Remote  *Instance     // nil for a create; for a duplicate, the instance kept (the oldest)
	// Extras are, for a duplicate, the account's other live instances: apply deletes them.
	Extras []*Instance
}

// FieldChange is one field an update changes, with the value the platform
// shows (Old) and the one the manifest wants (New): a string, or the sorted
// tags for "tags". "credentials" (a secret changed) and "spec" (a field the
// platform does not show changed) carry no values: a secret is never shown.
// Old is nil for a configuration key the platform does not show.
type FieldChange struct {
	Field string `json:"field"`
	Old   any    `json:"old,omitempty"`
	New   any    `json:"new,omitempty"`
}

// String is the change as the text plan prints it: field: old -> new, or the
// field alone when it carries no values.
func (f FieldChange) String() string { return f.render("->") }

func (f FieldChange) render(arrow string) string {
	switch f.Field {
	case FieldCredentials:
		return "credentials: a secret changed (values never shown)"
	case FieldSpec:
		return "spec: a desired field the platform does not show changed"
	}
	return f.Field + ": " + showValue(f.Old) + " " + arrow + " " + showValue(f.New)
}

// showValue quotes a value of a FieldChange for a plan: strings and tags in Go
// syntax, so nothing in them (a newline, an escape sequence) reaches a
// terminal raw.
func showValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "(not shown)"
	case string:
		return strconv.Quote(x)
	case []string:
		q := make([]string, len(x))
		for i, s := range x {
			q[i] = strconv.Quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	case []any:
		q := make([]string, len(x))
		for i, s := range x {
			q[i] = showValue(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	return strconv.Quote(fmt.Sprint(v))
}

// Field names of FieldChange besides "configuration.<key>".
const (
	FieldName        = "name"
	FieldElement     = "element"
	FieldTags        = "tags"
	FieldDescription = "description"
	FieldCredentials = "credentials"
	FieldSpec        = "spec"
	// ConfigurationPrefix starts the field of one configuration key.
	ConfigurationPrefix = "configuration."
)

// Plan is the list of changes that makes the platform match a manifest.
type Plan struct {
	Set      string
	Platform manifest.Platform
	Changes  []Change // manifest order, then deletions by name
	// Read is the set's instances the plan was made from (what the run read
	// before it), those it has no change for included: Apply's end-of-run
	// listing tells another run's instances from them.
	Read []Instance
}

// PlanOptions adjusts what MakePlan proposes.
type PlanOptions struct {
	// Prune proposes deleting instances of the set that the manifest no longer lists.
	Prune bool
	// Owns says whether this run manages the named instance, for --select and
	// --shard; nil means every instance. An instance it does not own is never deleted.
	Owns func(name string) bool
}

// Counts returns how many changes of each action the plan holds.
func (p *Plan) Counts() map[Action]int {
	n := map[Action]int{}
	for _, c := range p.Changes {
		n[c.Action]++
	}
	return n
}

// Deletions counts the instances applying the plan deletes: one per delete,
// and the extras of each duplicate.
func (p *Plan) Deletions() int {
	n := 0
	for _, c := range p.Changes {
		switch c.Action {
		case Delete:
			n++
		case Duplicate:
			n += len(c.Extras)
		}
	}
	return n
}

// Oldest returns the instance that one account keeps among several live ones:
// the earliest created, then the lowest id. Every run makes the same choice
// from the same instances, so runs that meet the same duplicates agree.
func Oldest(ins []Instance) *Instance {
	var keep *Instance
	for i := range ins {
		if keep == nil || compareAge(&ins[i], keep) < 0 {
			keep = &ins[i]
		}
	}
	return keep
}

// compareAge orders instances oldest first: by creation time (an unknown
// one after every known one), then by id (numerically when both are numbers,
// as Cloud Elements ids are).
func compareAge(a, b *Instance) int {
	switch {
	case a.Created.IsZero() != b.Created.IsZero():
		if a.Created.IsZero() {
			return 1
		}
		return -1
	case !a.Created.Equal(b.Created):
		return a.Created.Compare(b.Created)
	}
	if isDigits(a.ID) && isDigits(b.ID) {
		x, y := strings.TrimLeft(a.ID, "0"), strings.TrimLeft(b.ID, "0")
		if c := cmp.Compare(len(x), len(y)); c != 0 {
			return c
		}
		return strings.Compare(x, y)
	}
	return strings.Compare(a.ID, b.ID)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Sends reports whether applying c changes anything on the platform (and
// so sends requests): not for an unchanged account, nor for one awaiting
// its owner's consent.
func (c Change) Sends() bool { return c.Action != Unchanged && c.Action != AwaitConsent }

// HasChanges reports whether applying the plan would change anything.
func (p *Plan) HasChanges() bool {
	for _, c := range p.Changes {
		if c.Sends() {
			return true
		}
	}
	return false
}

// MakePlan compares the accounts with the set's remote instances, matched by name.
// Instances without the set's marker must not be in remote: List returns only marked ones.
//
// An account with more than one live instance of the set is a Duplicate: the
// oldest is kept (see Oldest) and compared with the manifest like any other,
// the others are its Extras.
func MakePlan(set string, platform manifest.Platform, accounts []manifest.Account, remote []Instance, opts PlanOptions) Plan {
	byName := make(map[string][]int, len(remote))
	for i := range remote {
		if remote[i].Set != set {
			continue
		}
		byName[remote[i].Name] = append(byName[remote[i].Name], i)
	}
	matched := make([]bool, len(remote))
	p := Plan{Set: set, Platform: platform, Changes: make([]Change, 0, len(accounts)), Read: remote}
	for _, a := range accounts {
		d := &Desired{Account: a, Set: set}
		same := byName[a.Name]
		if len(same) == 0 {
			d.Fingerprint = Fingerprint(set, a)
			act := Create
			if NeedsConsent(a) {
				act = AwaitConsent
			}
			p.Changes = append(p.Changes, Change{Name: a.Name, Action: act, Desired: d})
			continue
		}
		slices.SortFunc(same, func(x, y int) int { return compareAge(&remote[x], &remote[y]) })
		for _, j := range same {
			matched[j] = true
		}
		r := &remote[same[0]]
		var delta specDelta
		d.Fingerprint, delta = compareSpec(set, a, r.Fingerprint)
		changes := diff(d, r, delta)
		act := Unchanged
		if len(changes) > 0 {
			act = Update
		}
		c := Change{Name: a.Name, Action: act, Diff: changes, Desired: d, Remote: r}
		for _, j := range same[1:] {
			c.Action = Duplicate
			c.Extras = append(c.Extras, &remote[j])
		}
		for _, f := range changes {
			c.Fields = append(c.Fields, f.Field)
		}
		p.Changes = append(p.Changes, c)
	}
	if opts.Prune {
		var dels []Change
		for i := range remote {
			r := &remote[i]
			if matched[i] || r.Set != set || (opts.Owns != nil && !opts.Owns(r.Name)) {
				continue
			}
			dels = append(dels, Change{Name: r.Name, Action: Delete, Remote: r})
		}
		sort.SliceStable(dels, func(a, b int) bool { return dels[a].Name < dels[b].Name })
		p.Changes = append(p.Changes, dels...)
	}
	return p
}

// diff lists the fields in which the remote instance differs from the
// desired one, old -> new, and sets d.Send to what an update must send.
func diff(d *Desired, r *Instance, delta specDelta) []FieldChange {
	var out []FieldChange
	a := d.Account
	if r.Name != a.Name {
		out = append(out, FieldChange{Field: FieldName, Old: r.Name, New: a.Name})
		d.Send.Name = true
	}
	if r.Element != "" && a.Element != "" && r.Element != a.Element {
		out = append(out, FieldChange{Field: FieldElement, Old: r.Element, New: a.Element})
		d.Send.Element = true
	}
	// Flow Service connections (no element) have no tags, Cloud Elements
	// instances no description.
	if a.Element != "" && !sameSet(a.Tags, r.Tags) {
		out = append(out, FieldChange{Field: FieldTags, Old: sortedTags(r.Tags), New: sortedTags(a.Tags)})
	}
	if r.Description != a.Description && a.Element == "" {
		out = append(out, FieldChange{Field: FieldDescription, Old: r.Description, New: a.Description})
		d.Send.Description = true
	}
	keys := make([]string, 0, len(a.Configuration))
	for k := range a.Configuration {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		want := configString(a.Configuration[k])
		got, shown := r.Configuration[k]
		switch {
		case shown && got != want:
			out = append(out, FieldChange{Field: ConfigurationPrefix + k, Old: got, New: want})
		case !shown && delta.Public:
			// Not shown (absent, null or masked): it may be what changed.
			out = append(out, FieldChange{Field: ConfigurationPrefix + k, New: want})
		default:
			continue
		}
		d.Send.Configuration = append(d.Send.Configuration, k)
	}
	if delta.Public && len(out) == 0 {
		// Only a field the platform does not show can explain the change.
		out = append(out, FieldChange{Field: FieldSpec})
		d.Send.Auth = true
	}
	if delta.credentials() {
		out = append(out, FieldChange{Field: FieldCredentials})
		d.Send.Credentials = true
		d.Send.Code = delta.Code
	}
	return out
}

func sortedTags(tags []string) []string {
	out := append([]string{}, tags...)
	sort.Strings(out)
	return out
}

// configString is how the platform shows a configuration value: as a string.
func configString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := make(map[string]int, len(a))
	for _, s := range a {
		seen[s]++
	}
	for _, s := range b {
		if seen[s] == 0 {
			return false
		}
		seen[s]--
	}
	return true
}
