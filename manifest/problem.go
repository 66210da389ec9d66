package manifest

import (
	"fmt"
	"sort"
)

// Severity says whether a problem stops the run.
type Severity int

// The severities of a problem.
const (
	// Error makes the manifest invalid.
	Error Severity = iota
	// Warning is reported but does not stop the run (unless validate --strict).
	Warning
)

// String returns "error" or "warning".
func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// MarshalText writes the severity's name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Problem is one thing wrong with a manifest, at the position of the offending
// key or value. Message and Hint never contain a secret value.
type Problem struct {
	Pos      Pos
	Severity Severity
	Message  string
	Hint     string // how to fix it; empty when the message says enough
}

// String formats the problem as "file:line:col: severity: message" (without the hint).
func (p Problem) String() string {
	return fmt.Sprintf("%s: %s: %s", p.Pos, p.Severity, p.Message)
}

// String formats the position as "file:line:col", or "file" when it has no line.
func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// HasErrors reports whether any problem has error severity.
func HasErrors(ps []Problem) bool {
	for _, p := range ps {
		if p.Severity == Error {
			return true
		}
	}
	return false
}

// SortProblems sorts problems by file (in the order of files; others after,
// by name), line, column, severity and message, and drops exact duplicates:
// how every command shows them.
func SortProblems(ps []Problem, files []string) []Problem {
	rank := make(map[string]int, len(files))
	for i, f := range files {
		if _, ok := rank[f]; !ok {
			rank[f] = i
		}
	}
	return sortProblems(ps, rank)
}

// sortProblems sorts by file (in the run's order, given by rank), line, column,
// then message, and drops exact duplicates (a defaults value shared by many accounts).
func sortProblems(ps []Problem, rank map[string]int) []Problem {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.Pos.File != b.Pos.File {
			ra, oka := rank[a.Pos.File]
			rb, okb := rank[b.Pos.File]
			if oka && okb && ra != rb {
				return ra < rb
			}
			if oka != okb {
				return oka
			}
			return a.Pos.File < b.Pos.File
		}
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line < b.Pos.Line
		}
		if a.Pos.Col != b.Pos.Col {
			return a.Pos.Col < b.Pos.Col
		}
		if a.Severity != b.Severity {
			return a.Severity < b.Severity
		}
		return a.Message < b.Message
	})
	out := ps[:0]
	for i, p := range ps {
		if i > 0 && p == ps[i-1] {
			continue
		}
		out = append(out, p)
	}
	return out
}

func sprintf(format string, args ...any) string {
	if len(args) == 0 {
		return format
	}
	return fmt.Sprintf(format, args...)
}
