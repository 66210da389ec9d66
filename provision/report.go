package provision

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
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
	Failed    int `json:"failed"`
	Skipped   int `json:"skipped"`
	Unhealthy int `json:"unhealthy"`
	// AwaitingConsent counts the skipped oauth2 accounts without a code and
	// without an instance: nothing was sent for them.
	AwaitingConsent int `json:"awaitingConsent"`
}

// AccountReport is one account's line in the report. Token is the instance
// token: the report is the one place it is written.
type AccountReport struct {
	Name       string       `json:"name"`
	Element    string       `json:"element,omitempty"`
	Action     Action       `json:"action"`
	Fields     []string     `json:"fields,omitempty"`
	Status     Status       `json:"status"`
	Reason     string       `json:"reason,omitempty"` // for a skipped account: "awaiting-consent", or empty after an abort
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
		act := r.Action
		if act == AwaitConsent {
			act = Create // the report's actions are create, update, unchanged and delete
		}
		rep.Accounts[i] = AccountReport{
			Name: r.Name, Element: r.Element, Action: act, Fields: r.Fields, Status: r.Status, Reason: r.Reason,
			InstanceID: r.InstanceID, Token: r.Token.Reveal(), Attempts: r.Attempts,
			DurationMs: r.Duration.Milliseconds(), Error: r.Error,
		}
	}
	rep.Summary = summarize(rep.Accounts)
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
			if a.Reason == ReasonAwaitingConsent {
				s.AwaitingConsent++
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
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteJUnit writes one JUnit test case per account: failed and unhealthy
// accounts are failures, skipped accounts are skipped. It holds no token.
func (r Report) WriteJUnit(w io.Writer) error {
	type failure struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr"`
		Text    string `xml:",chardata"`
	}
	type skipped struct {
		Message string `xml:"message,attr,omitempty"`
	}
	type testcase struct {
		Name      string   `xml:"name,attr"`
		Classname string   `xml:"classname,attr"`
		Time      string   `xml:"time,attr"`
		Failure   *failure `xml:"failure,omitempty"`
		Skipped   *skipped `xml:"skipped,omitempty"`
	}
	type testsuite struct {
		XMLName   xml.Name   `xml:"testsuite"`
		Name      string     `xml:"name,attr"`
		Tests     int        `xml:"tests,attr"`
		Failures  int        `xml:"failures,attr"`
		Skipped   int        `xml:"skipped,attr"`
		Time      string     `xml:"time,attr"`
		Timestamp string     `xml:"timestamp,attr"`
		Cases     []testcase `xml:"testcase"`
	}
	ts := testsuite{
		Name:      fmt.Sprintf("hubprov %s %s", r.Run.Command, r.Run.Set),
		Tests:     len(r.Accounts),
		Time:      seconds(r.Run.FinishedAt.Sub(r.Run.StartedAt)),
		Timestamp: r.Run.StartedAt.UTC().Format(time.RFC3339),
	}
	for _, a := range r.Accounts {
		tc := testcase{
			Name:      fmt.Sprintf("%s %s", a.Action, a.Name),
			Classname: "hubprov." + r.Run.Set,
			Time:      seconds(time.Duration(a.DurationMs) * time.Millisecond),
		}
		switch a.Status {
		case Failed, Unhealthy:
			ts.Failures++
			f := &failure{Type: string(a.Status)}
			if a.Error != nil {
				f.Type = string(a.Error.Class)
				f.Message = a.Error.Message
				f.Text = fmt.Sprintf("status: %s\nclass: %s\nhttpStatus: %d\nrequestId: %s\nattempts: %d\n%s",
					a.Status, a.Error.Class, a.Error.HTTPStatus, a.Error.RequestID, a.Attempts, a.Error.Message)
			}
			tc.Failure = f
		case Skipped:
			ts.Skipped++
			tc.Skipped = &skipped{Message: r.Run.Aborted}
			if a.Reason == ReasonAwaitingConsent {
				tc.Skipped.Message = "oauth2 account without a code: waits for consent (hubprov authorize-urls prints the link)"
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

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }
