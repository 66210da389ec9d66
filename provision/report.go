package provision

import (
	"github.com/hubprov/hubprov/manifest"

	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Report is hubprov-report.json. Its keys are a stable interface that scripts read.
type Report struct {
	Version  int             `json:"version"`
	Run      RunInfo         `json:"run"`
	Summary  Summary         `json:"summary"`
	Accounts []AccountReport `json:"accounts"`
}

// RunInfo describes the run that wrote a report.
type RunInfo struct {
	Command        string         `json:"command"`
	StartedAt      time.Time      `json:"startedAt"`
	FinishedAt     time.Time      `json:"finishedAt"`
	HubprovVersion string         `json:"hubprovVersion"`
	Platform       string         `json:"platform"`
	BaseURL        string         `json:"baseURL"`
	Set            string         `json:"set"`
	Manifests      []ManifestFile `json:"manifests"`
	Aborted        string         `json:"aborted,omitempty"`
	Requests       int            `json:"requests"`
	Throttled      int            `json:"throttled"`
	Retries        int            `json:"retries"`
}

// ManifestFile names one manifest file of the run and its digest.
type ManifestFile struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// Summary counts the accounts by action and status.
type Summary struct {
	Total     int `json:"total"`
	Created   int `json:"created"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
	Deleted   int `json:"deleted"`
	// DuplicatesDeleted counts the extra live instances of accounts the run deleted.
	DuplicatesDeleted int `json:"duplicatesDeleted"`
	Failed            int `json:"failed"`
	Skipped           int `json:"skipped"`
	Unhealthy         int `json:"unhealthy"`
	// AwaitingConsent counts the skipped oauth2 accounts without a code and
	// without an instance: nothing was sent for them.
	AwaitingConsent int `json:"awaitingConsent"`
	// NotSelected counts the skipped accounts this run did not manage, mapped
	// to their live instance from the platform's list.
	NotSelected int `json:"notSelected"`
	// Pending counts the skipped accounts whose create's outcome stayed
	// unknown (ReasonPending): a rerun resolves them.
	Pending int `json:"pending,omitempty"`
}

// AccountReport is one account's line in the report. Token is the instance
// token: the report is the one place it is written.
type AccountReport struct {
	Name       string       `json:"name"`
	Element    string       `json:"element,omitempty"`
	Action     Action       `json:"action"`
	Fields     []string     `json:"fields,omitempty"`
	Status     Status       `json:"status"`
	Reason     string       `json:"reason,omitempty"` // for a skipped account: "awaiting-consent", "interrupted", or empty after an abort
	InstanceID string       `json:"instanceId,omitempty"`
	Token      string       `json:"token,omitempty"`
	Attempts   int          `json:"attempts"`
	DurationMs int64        `json:"durationMs"`
	Error      *ResultError `json:"error,omitempty"`
}

// NewReport builds the report of a run from its outcome.
func NewReport(run RunInfo, out Outcome) Report {
	run.Aborted = out.Aborted
	run.Requests, run.Throttled, run.Retries = out.Requests, out.Throttled, out.Retries
	rep := Report{Version: 1, Run: run, Accounts: make([]AccountReport, len(out.Results))}
	for i, r := range out.Results {
		rep.Accounts[i] = AccountReport{
			Name: r.Name, Element: r.Element, Action: r.Action.Word(), Fields: r.Fields, Status: r.Status, Reason: r.Reason,
			InstanceID: r.InstanceID, Token: r.Token.Reveal(), Attempts: r.Attempts,
			DurationMs: r.Duration.Milliseconds(), Error: r.Error,
		}
	}
	rep.Summary = summarize(rep.Accounts)
	for _, r := range out.Results {
		rep.Summary.DuplicatesDeleted += r.DuplicatesDeleted
	}
	return rep
}

func summarize(accts []AccountReport) Summary {
	s := Summary{Total: len(accts)}
	for _, a := range accts {
		switch a.Status {
		case Failed:
			s.Failed++
		case Skipped:
			s.Skipped++
			switch a.Reason {
			case ReasonAwaitingConsent:
				s.AwaitingConsent++
			case ReasonNotSelected:
				s.NotSelected++
			case ReasonPending:
				s.Pending++
			}
		case Unhealthy:
			s.Unhealthy++
		case Succeeded:
			switch a.Action {
			case Create:
				s.Created++
			case Update:
				s.Updated++
			case Unchanged:
				s.Unchanged++
			case Delete:
				s.Deleted++
			}
		}
	}
	return s
}

// WriteJSON writes the report as indented JSON.
// MaxReportSize bounds a report file hubprov reads: report merge's inputs
// and the previous report of a run (200,000 accounts take about 100 MiB).
const MaxReportSize = 256 << 20

// ReadReport decodes a report written by WriteJSON and checks that it is one
// (version 1). Read a file through safefile.Reader with MaxReportSize.
func ReadReport(rd io.Reader) (Report, error) {
	var r Report
	if err := json.NewDecoder(rd).Decode(&r); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		if errors.As(err, &se) || errors.As(err, &te) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return r, fmt.Errorf("not a hubprov report: %w", err)
		}
		return r, err
	}
	if r.Version != 1 {
		return r, fmt.Errorf("not a hubprov report (version %d, want 1)", r.Version)
	}
	return r, nil
}

func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteJUnit writes the run as one JUnit <testsuite> for CI test tabs
// (Jenkins, GitLab, GitHub reporters): one test case per account, named by the
// account and classed by the set, so a case keeps its history from run to run
// whatever the action. The action, status, instance id and attempts go in the
// case's system-out. An unhealthy account, or one the platform refused (class
// item), is a failure; any other failed account an error (the platform or the
// run broke); a skipped account is skipped with its reason. The suite carries
// the counts, the start time in UTC without a zone suffix (the Ant schema's
// form), the host and the run's properties. It holds no token.
func (r Report) WriteJUnit(w io.Writer) error {
	type problem struct {
		Type    string `xml:"type,attr"`
		Message string `xml:"message,attr,omitempty"`
		Text    string `xml:",cdata"`
	}
	type text struct {
		Text string `xml:",cdata"`
	}
	type skipped struct {
		Message string `xml:"message,attr,omitempty"`
	}
	type testcase struct {
		Name      string   `xml:"name,attr"`
		Classname string   `xml:"classname,attr"`
		Time      string   `xml:"time,attr"`
		Failure   *problem `xml:"failure,omitempty"`
		Error     *problem `xml:"error,omitempty"`
		Skipped   *skipped `xml:"skipped,omitempty"`
		SystemOut text     `xml:"system-out"`
	}
	type property struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	}
	type testsuite struct {
		XMLName    xml.Name   `xml:"testsuite"`
		Name       string     `xml:"name,attr"`
		Tests      int        `xml:"tests,attr"`
		Failures   int        `xml:"failures,attr"`
		Errors     int        `xml:"errors,attr"`
		Skipped    int        `xml:"skipped,attr"`
		Time       string     `xml:"time,attr"`
		Timestamp  string     `xml:"timestamp,attr"`
		Hostname   string     `xml:"hostname,attr"`
		Properties []property `xml:"properties>property"`
		Cases      []testcase `xml:"testcase"`
		SystemOut  string     `xml:"system-out"`
		SystemErr  string     `xml:"system-err"`
	}
	ts := testsuite{
		Name:      fmt.Sprintf("hubprov %s %s", r.Run.Command, r.Run.Set),
		Tests:     len(r.Accounts),
		Time:      seconds(r.Run.FinishedAt.Sub(r.Run.StartedAt)),
		Timestamp: r.Run.StartedAt.UTC().Format("2006-01-02T15:04:05"),
		Hostname:  junitHost(),
	}
	prop := func(name, value string) {
		if value != "" {
			ts.Properties = append(ts.Properties, property{name, value})
		}
	}
	prop("command", r.Run.Command)
	prop("set", r.Run.Set)
	prop("platform", r.Run.Platform)
	prop("baseURL", r.Run.BaseURL)
	prop("hubprovVersion", r.Run.HubprovVersion)
	for i, m := range r.Run.Manifests {
		prop(fmt.Sprintf("manifest.%d", i), m.Path+" sha256:"+m.SHA256)
	}
	prop("requests", strconv.Itoa(r.Run.Requests))
	prop("aborted", r.Run.Aborted)
	for _, a := range r.Accounts {
		tc := testcase{
			Name:      a.Name,
			Classname: r.Run.Set,
			Time:      seconds(time.Duration(a.DurationMs) * time.Millisecond),
			SystemOut: text{a.junitOut()},
		}
		switch a.Status {
		case Failed, Unhealthy:
			p := &problem{Type: string(a.Status)}
			if a.Error != nil {
				p.Type, p.Message = string(a.Error.Class), a.Error.Message
				p.Text = a.Error.Message
			}
			if a.Status == Unhealthy || a.Error == nil || a.Error.Class == Item {
				ts.Failures++
				tc.Failure = p
			} else {
				ts.Errors++
				tc.Error = p
			}
		case Skipped:
			ts.Skipped++
			tc.Skipped = &skipped{Message: a.Reason}
			switch {
			case a.Reason == ReasonPending:
				tc.Skipped.Message = ReasonPending + ": the create's outcome is unknown (its answer was lost or had no id) and the list did not show it in time; a rerun resolves it"
			case a.Reason == ReasonAwaitingConsent:
				tc.Skipped.Message = ReasonAwaitingConsent + ": an oauth2 account without a code waits for its portal owner's consent (hubprov authorize-urls prints the link)"
			case a.Reason == "" && r.Run.Aborted != "":
				tc.Skipped.Message = "the run stopped early: " + r.Run.Aborted
			}
		}
		ts.Cases = append(ts.Cases, tc)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(ts); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// junitOut is an account's system-out in the JUnit file: what was done and
// how it went, one "key: value" a line, without the token.
func (a AccountReport) junitOut() string {
	var b strings.Builder
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	line("action", string(a.Action))
	line("status", string(a.Status))
	line("reason", a.Reason)
	line("element", a.Element)
	line("fields", strings.Join(a.Fields, ", "))
	line("instanceId", a.InstanceID)
	line("attempts", strconv.Itoa(a.Attempts))
	if e := a.Error; e != nil {
		line("class", string(e.Class))
		if e.HTTPStatus != 0 {
			line("httpStatus", strconv.Itoa(e.HTTPStatus))
		}
		line("requestId", e.RequestID)
		line("message", e.Message)
	}
	return b.String()
}

// junitHost names the machine in the JUnit file; "localhost" when unknown,
// as the Ant schema asks.
var junitHost = func() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "localhost"
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// KnownInstances maps the accounts of the report that have a live instance,
// as far as the run that wrote it knew, to the instance id.
func (r Report) KnownInstances() map[string]string {
	out := map[string]string{}
	for _, a := range r.Accounts {
		if a.InstanceID == "" || (a.Action == Delete && a.Status == Succeeded) {
			continue
		}
		out[a.Name] = a.InstanceID
	}
	return out
}

// Unmanaged returns, as results skipped with ReasonNotSelected, the accounts of the manifest that
// the plan did not manage (another --select or --shard, or destroy, which
// leaves them) and that have a live instance of the set in remote (the
// oldest, when there are several), so that the report written at a path maps
// every live account of the manifest to its instance and token.
func Unmanaged(plan Plan, accounts []manifest.Account, remote []Instance) []Result {
	managed := map[string]bool{}
	for _, c := range plan.Changes {
		managed[c.Name] = true
	}
	byName := map[string][]Instance{}
	for _, in := range remote {
		if in.Set == plan.Set {
			byName[in.Name] = append(byName[in.Name], in)
		}
	}
	var out []Result
	for _, a := range accounts {
		if managed[a.Name] || len(byName[a.Name]) == 0 {
			continue
		}
		in := Oldest(byName[a.Name])
		out = append(out, Result{Name: a.Name, Element: a.Element, Action: Unchanged, Status: Skipped, Reason: ReasonNotSelected, InstanceID: in.ID, Token: in.Token})
	}
	return out
}
