package provision

import (
	"fmt"
	"sort"
	"strconv"

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
	Name    string
	Action  Action
	Fields  []string  // for an update: what differs ("tags", "configuration.<key>", "credentials", ...)
	Desired *Desired  // nil for a delete
	Remote  *Instance // nil for a create
}

// Plan is the list of changes that makes the platform match a manifest.
type Plan struct {
	Set      string
	Platform manifest.Platform
	Changes  []Change // manifest order, then deletions by name
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

// HasChanges reports whether applying the plan would change anything.
func (p *Plan) HasChanges() bool {
	for _, c := range p.Changes {
		if c.Action != Unchanged && c.Action != AwaitConsent {
			return true
		}
	}
	return false
}

// MakePlan compares the accounts with the set's remote instances, matched by name.
// Instances without the set's marker must not be in remote: List returns only marked ones.
func MakePlan(set string, platform manifest.Platform, accounts []manifest.Account, remote []Instance, opts PlanOptions) Plan {
	byName := make(map[string]int, len(remote))
	for i := range remote {
		if remote[i].Set != set {
			continue
		}
		if _, dup := byName[remote[i].Name]; !dup {
			byName[remote[i].Name] = i
		}
	}
	matched := make([]bool, len(remote))
	p := Plan{Set: set, Platform: platform, Changes: make([]Change, 0, len(accounts))}
	for _, a := range accounts {
		d := &Desired{Account: a, Set: set, Fingerprint: Fingerprint(set, a)}
		i, ok := byName[a.Name]
		noCode := NeedsConsent(a)
		if !ok {
			act := Create
			if noCode {
				act = AwaitConsent
			}
			p.Changes = append(p.Changes, Change{Name: a.Name, Action: act, Desired: d})
			continue
		}
		matched[i] = true
		r := &remote[i]
		if noCode && len(r.Fingerprint) == 16 {
			// A code is used once: removing it after the instance exists keeps
			// the instance's grant, so the secrets count as unchanged.
			d.Fingerprint = d.Fingerprint[:8] + r.Fingerprint[8:]
		}
		fields := diff(d, r)
		d.Reauth = secretsChanged(r.Fingerprint, d.Fingerprint)
		act := Unchanged
		if len(fields) > 0 {
			act = Update
		}
		p.Changes = append(p.Changes, Change{Name: a.Name, Action: act, Fields: fields, Desired: d, Remote: r})
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

// diff lists the fields in which the remote instance differs from the desired one.
func diff(d *Desired, r *Instance) []string {
	var fields []string
	a := d.Account
	if r.Element != "" && a.Element != "" && r.Element != a.Element {
		fields = append(fields, "element")
	}
	if !sameSet(a.Tags, r.Tags) {
		fields = append(fields, "tags")
	}
	if r.Description != a.Description && d.Account.Element == "" {
		fields = append(fields, "description")
	}
	keys := make([]string, 0, len(a.Configuration))
	for k := range a.Configuration {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		got, shown := r.Configuration[k]
		if shown && got != configString(a.Configuration[k]) {
			fields = append(fields, "configuration."+k)
		}
	}
	if r.Fingerprint != d.Fingerprint {
		if secretsChanged(r.Fingerprint, d.Fingerprint) {
			fields = append(fields, "credentials")
		}
		if len(r.Fingerprint) != 16 || r.Fingerprint[:8] != d.Fingerprint[:8] {
			if len(fields) == 0 || fields[len(fields)-1] == "credentials" {
				fields = append(fields, "spec")
			}
		}
	}
	return fields
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
