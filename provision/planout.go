package provision

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// WriteText prints the plan for a terminal or a CI log: one line per change
// (unchanged accounts only when verbose), then a one-line summary.
func (p *Plan) WriteText(w io.Writer, verbose bool) error {
	width := 0
	for _, c := range p.Changes {
		if (c.Action != Unchanged || verbose) && len(c.Name) > width {
			width = len(c.Name)
		}
	}
	var b strings.Builder
	for _, c := range p.Changes {
		if c.Action == Unchanged && !verbose {
			continue
		}
		sym := map[Action]string{Create: "+", Update: "~", Delete: "-", Unchanged: " ", AwaitConsent: "?"}[c.Action]
		fmt.Fprintf(&b, "  %s %-*s  %-13s", sym, width, c.Name, c.Action)
		switch c.Action {
		case Create:
			a := c.Desired.Account
			if a.Element != "" {
				fmt.Fprintf(&b, "  %s, %s", a.Element, a.Auth.Type)
			} else {
				fmt.Fprintf(&b, "  %s", a.Auth.Type)
			}
		case Update:
			fmt.Fprintf(&b, "  %s (instance %s)", strings.Join(c.Fields, ", "), c.Remote.ID)
		case Delete, Unchanged:
			fmt.Fprintf(&b, "  instance %s", c.Remote.ID)
		case AwaitConsent:
			fmt.Fprintf(&b, "  %s, oauth2 without a code: waits for consent", c.Desired.Account.Element)
		}
		b.WriteString("\n")
	}
	n := p.Counts()
	if !p.HasChanges() {
		fmt.Fprintf(&b, "No changes: %d accounts of set %q are up to date.\n", n[Unchanged], p.Set)
	} else {
		fmt.Fprintf(&b, "Plan: %d to create, %d to update, %d to delete, %d unchanged.\n", n[Create], n[Update], n[Delete], n[Unchanged])
	}
	if n[AwaitConsent] > 0 {
		fmt.Fprintf(&b, "%d oauth2 accounts wait for consent: `hubprov authorize-urls` prints their consent links; add each code to the manifest.\n", n[AwaitConsent])
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// PlanJSON is the machine-readable plan printed by `plan --json`. It holds no secret.
type PlanJSON struct {
	Version  int              `json:"version"`
	Set      string           `json:"set"`
	Platform string           `json:"platform"`
	Summary  map[Action]int   `json:"summary"`
	Changes  []PlanChangeJSON `json:"changes"`
}

// PlanChangeJSON is one change of PlanJSON.
type PlanChangeJSON struct {
	Name        string   `json:"name"`
	Action      Action   `json:"action"`
	Element     string   `json:"element,omitempty"`
	Fields      []string `json:"fields,omitempty"`
	InstanceID  string   `json:"instanceId,omitempty"`
	Fingerprint string   `json:"fingerprint,omitempty"`
	ETag        string   `json:"etag,omitempty"`
}

// JSON returns the machine-readable form of the plan.
func (p *Plan) JSON() PlanJSON {
	out := PlanJSON{Version: 1, Set: p.Set, Platform: string(p.Platform), Summary: p.Counts(), Changes: make([]PlanChangeJSON, len(p.Changes))}
	for _, a := range []Action{Create, Update, Unchanged, Delete, AwaitConsent} {
		out.Summary[a] += 0
	}
	for i, c := range p.Changes {
		j := PlanChangeJSON{Name: c.Name, Action: c.Action, Fields: c.Fields}
		if c.Desired != nil {
			j.Element = c.Desired.Account.Element
			j.Fingerprint = c.Desired.Fingerprint
		}
		if c.Remote != nil {
			j.InstanceID = c.Remote.ID
			j.ETag = c.Remote.ETag
			if j.Element == "" {
				j.Element = c.Remote.Element
			}
		}
		out.Changes[i] = j
	}
	return out
}

// WriteJSON prints the plan as indented JSON.
func (p *Plan) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(p.JSON())
}
