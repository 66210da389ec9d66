package provision

import (
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
		sym := map[Action]string{Create: "+", Update: "~", Delete: "-", Unchanged: " ", AwaitConsent: "?", Duplicate: "!"}[c.Action]
		fmt.Fprintf(&b, "  %s %-*s  %-9s", sym, width, c.Name, c.Action.Word())
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
			for _, f := range c.Diff {
				fmt.Fprintf(&b, "\n      %s", f)
			}
		case Delete, Unchanged:
			fmt.Fprintf(&b, "  instance %s", c.Remote.ID)
		case Duplicate:
			fmt.Fprintf(&b, "  %s", duplicateText(c))
			if len(c.Fields) > 0 {
				fmt.Fprintf(&b, "; then updates %s", strings.Join(c.Fields, ", "))
			}
			for _, f := range c.Diff {
				fmt.Fprintf(&b, "\n      %s", f)
			}
		case AwaitConsent:
			fmt.Fprintf(&b, "  %s, %s: oauth2 without a code", c.Desired.Account.Element, ReasonAwaitingConsent)
		}
		b.WriteString("\n")
	}
	n := p.Counts()
	if !p.HasChanges() {
		fmt.Fprintf(&b, "No changes: %d accounts of set %q are up to date.\n", n[Unchanged], p.Set)
	} else {
		fmt.Fprintf(&b, "Plan: %d to create, %d to update, %d to delete, %d unchanged", n[Create], n[Update], n[Delete], n[Unchanged])
		if n[Duplicate] > 0 {
			fmt.Fprintf(&b, ", %d duplicate (%d extra instances to delete)", n[Duplicate], p.Deletions()-n[Delete])
		}
		b.WriteString(".\n")
	}
	if n[AwaitConsent] > 0 {
		fmt.Fprintf(&b, "%d %s: oauth2 accounts without a code; `hubprov authorize-urls` prints their consent links, then add each code to the manifest.\n", n[AwaitConsent], ReasonAwaitingConsent)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// PlanSummary counts a plan's changes by action, as plan --json, --out and
// the Markdown plan show them. AwaitingConsent counts the creates that wait
// for consent; Create does not include them.
type PlanSummary struct {
	Create          int `json:"create"`
	Update          int `json:"update"`
	Unchanged       int `json:"unchanged"`
	Delete          int `json:"delete"`
	Duplicate       int `json:"duplicate"`
	AwaitingConsent int `json:"awaitingConsent"`
}

// Summary counts the plan's changes.
func (p *Plan) Summary() PlanSummary {
	n := p.Counts()
	return PlanSummary{Create: n[Create], Update: n[Update], Unchanged: n[Unchanged], Delete: n[Delete],
		Duplicate: n[Duplicate], AwaitingConsent: n[AwaitConsent]}
}

// markdownRows bounds the per-account table of WriteMarkdown: a pull-request
// comment holds at most 65,536 characters.
const markdownRows = 300

// WriteMarkdown prints the plan for a pull-request comment: a summary table,
// then a table of the accounts that change (unchanged ones folded away).
func (p *Plan) WriteMarkdown(w io.Writer, title string) error {
	var b strings.Builder
	n := p.Counts()
	fmt.Fprintf(&b, "### %s\n\n", mdEscape(title))
	if !p.HasChanges() {
		fmt.Fprintf(&b, "**No changes.** %d accounts of set `%s` are up to date.\n\n", n[Unchanged], p.Set)
	}
	b.WriteString("| create | update | delete | duplicate | unchanged | awaiting-consent |\n|---:|---:|---:|---:|---:|---:|\n")
	fmt.Fprintf(&b, "| %d | %d | %d | %d | %d | %d |\n\n", n[Create], n[Update], n[Delete], n[Duplicate], n[Unchanged], n[AwaitConsent])
	rows, more := 0, 0
	var unchanged []string
	for _, c := range p.Changes {
		if c.Action == Unchanged {
			unchanged = append(unchanged, c.Name)
			continue
		}
		if rows == markdownRows {
			more++
			continue
		}
		if rows == 0 {
			b.WriteString("| | account | action | element | details |\n|---|---|---|---|---|\n")
		}
		rows++
		sym := map[Action]string{Create: "➕", Update: "✏️", Delete: "🗑️", AwaitConsent: "⏳", Duplicate: "♊"}[c.Action]
		elem, details := "", ""
		if c.Desired != nil {
			elem = c.Desired.Account.Element
		} else if c.Remote != nil {
			elem = c.Remote.Element
		}
		switch c.Action {
		case Create:
			details = "auth " + string(c.Desired.Account.Auth.Type)
		case Update:
			lines := []string{mdEscape("instance " + c.Remote.ID + ":")}
			for _, f := range c.Diff {
				lines = append(lines, mdEscape(f.render("→")))
			}
			details = strings.Join(lines, "<br>")
		case Delete:
			details = "instance " + c.Remote.ID + " is no longer in the manifest"
		case Duplicate:
			details = duplicateText(c)
			if len(c.Fields) > 0 {
				details += "; then updates " + strings.Join(c.Fields, ", ")
			}
		case AwaitConsent:
			details = ReasonAwaitingConsent + ": oauth2 without a code (`hubprov authorize-urls` prints the consent link)"
		}
		if c.Action != Update {
			details = mdEscape(details)
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s | %s |\n", sym, c.Name, c.Action.Word(), mdEscape(elem), details)
	}
	if more > 0 {
		fmt.Fprintf(&b, "\n… and %d more changes: see the saved plan (`hubprov plan --out`) for all of them.\n", more)
	}
	if len(unchanged) > 0 {
		fmt.Fprintf(&b, "\n<details><summary>%d unchanged accounts</summary>\n\n", len(unchanged))
		if len(unchanged) > markdownRows*4 {
			unchanged = append(unchanged[:markdownRows*4], fmt.Sprintf("… %d more", len(unchanged)-markdownRows*4))
		}
		b.WriteString(strings.Join(unchanged, ", "))
		b.WriteString("\n\n</details>\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// mdEscape keeps text from breaking a Markdown table cell.
func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;").Replace(s)
}

// duplicateText says which instance a duplicate keeps and which it deletes.
func duplicateText(c Change) string {
	ids := make([]string, len(c.Extras))
	for i, x := range c.Extras {
		ids[i] = x.ID
	}
	return fmt.Sprintf("%d live instances: keeps %s (the oldest), deletes %s", len(c.Extras)+1, c.Remote.ID, strings.Join(ids, ", "))
}
