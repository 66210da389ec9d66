package manifest

import "bytes"

// split says where the items of the top-level accounts sequence stand in a
// file's text, so workers can parse them in parallel. It is found by a line
// scan and trusted only when the parses agree (see run.parseShell and
// run.loadBatch); otherwise the file is parsed whole.
type split struct {
	keyLine    int // line of "accounts:"
	start, end int // byte range of the items
	lines      int // newlines in [start, end)
	items      []itemStart
}

type itemStart struct {
	offset int
	line   int // 1-based line of the item's "-"
}

// splitAccounts finds a block sequence under a column-0 "accounts:" line, with
// every item starting "- " at one indentation. It returns nil for any other
// layout (flow style, tabs, a repeated accounts key, no items).
func splitAccounts(data []byte) *split {
	if bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		return nil
	}
	var s *split
	seqIndent := -1
	line := 0
	ended := false
	for off := 0; off < len(data); {
		line++
		nl := bytes.IndexByte(data[off:], '\n')
		end := len(data)
		next := len(data)
		if nl >= 0 {
			end = off + nl
			next = end + 1
		}
		text := bytes.TrimRight(data[off:end], "\r")
		indent := 0
		for indent < len(text) && text[indent] == ' ' {
			indent++
		}
		rest := text[indent:]
		blank := len(rest) == 0 || rest[0] == '#'
		if indent < len(text) && text[indent] == '\t' && !blank {
			return nil
		}
		switch {
		case s == nil || ended:
			if indent == 0 && isAccountsKey(rest) {
				if s != nil {
					return nil // a second accounts key: let the whole parse report it
				}
				s = &split{keyLine: line, start: next}
			}
		case blank:
		case seqIndent < 0:
			if !isItem(rest) {
				return nil
			}
			seqIndent = indent
			s.items = append(s.items, itemStart{offset: off, line: line})
		case indent == seqIndent && isItem(rest):
			s.items = append(s.items, itemStart{offset: off, line: line})
		case indent > seqIndent:
		default:
			if indent != 0 {
				return nil
			}
			s.end = off
			ended = true
		}
		off = next
	}
	if s == nil || len(s.items) == 0 {
		return nil
	}
	if !ended {
		s.end = len(data)
	}
	s.lines = bytes.Count(data[s.start:s.end], []byte{'\n'})
	return s
}

func isAccountsKey(rest []byte) bool {
	r, ok := bytes.CutPrefix(rest, []byte("accounts:"))
	if !ok {
		return false
	}
	r = bytes.TrimLeft(r, " ")
	return len(r) == 0 || r[0] == '#'
}

func isItem(rest []byte) bool {
	return len(rest) > 0 && rest[0] == '-' && (len(rest) == 1 || rest[1] == ' ')
}
