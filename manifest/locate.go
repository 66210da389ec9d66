package manifest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hubprov/hubprov/schema"
	"gopkg.in/yaml.v3"
)

// step is one level of a walk from a node down a JSON pointer.
type step struct {
	key *yaml.Node // the mapping key, nil for a sequence index
	val *yaml.Node
}

// walk follows tokens from n and returns the nodes passed (the last is the
// deepest that exists) and whether the whole path was found.
func walk(n *yaml.Node, tokens []string) ([]step, bool) {
	steps := []step{{val: n}}
	cur := n
	for _, t := range tokens {
		if cur.Kind == yaml.DocumentNode && len(cur.Content) > 0 {
			cur = cur.Content[0]
		}
		var next step
		switch cur.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(cur.Content); i += 2 {
				if cur.Content[i].Value == t {
					next = step{key: cur.Content[i], val: cur.Content[i+1]}
					break
				}
			}
		case yaml.SequenceNode:
			if i, err := strconv.Atoi(t); err == nil && i >= 0 && i < len(cur.Content) {
				next = step{val: cur.Content[i]}
			}
		}
		if next.val == nil {
			return steps, false
		}
		steps = append(steps, next)
		cur = next.val
	}
	return steps, true
}

// findKey returns the key node named k in mapping m, or nil.
func findKey(m *yaml.Node, k string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == k {
			return m.Content[i]
		}
	}
	return nil
}

// findVal returns the value node of key k in mapping m, or nil.
func findVal(m *yaml.Node, k string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == k {
			return m.Content[i+1]
		}
	}
	return nil
}

// dotted renders a path for messages: accounts[3].auth.type, configuration["a.b"].
func dotted(tokens []string, seqAt func(i int) bool) string {
	var b strings.Builder
	for i, t := range tokens {
		switch {
		case seqAt(i):
			b.WriteString("[" + t + "]")
		case t == "" || strings.ContainsAny(t, ". []\"'"):
			b.WriteString("[" + strconv.Quote(t) + "]")
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(t)
		}
	}
	return b.String()
}

// violationProblems maps schema violations found in the value of node n to
// problems at the offending key or value. prefix is n's path in its file.
func violationProblems(file string, n *yaml.Node, prefix []string, prefixSeq []bool, vs []schema.Violation) []Problem {
	var out []Problem
	for _, v := range vs {
		steps, _ := walk(n, v.Path)
		last := steps[len(steps)-1]
		tokens := append(append([]string{}, prefix...), v.Path[:len(steps)-1]...)
		isSeq := func(i int) bool {
			if i < len(prefix) {
				return prefixSeq[i]
			}
			return steps[i-len(prefix)+1].key == nil
		}
		path := dotted(tokens, isSeq)
		where := func(s string) string {
			if path == "" {
				return s
			}
			return path + ": " + s
		}
		at := last.val
		if last.key != nil {
			at = last.key
		}
		hint := hintFor(v)
		switch v.Keyword {
		case "additionalProperties":
			// The keys come from the node, not from v5's message, which quotes
			// them with ' unescaped.
			allowed := schema.AllowedKeys(v.Location)
			m := mappingOf(last.val)
			for i := 0; m != nil && m.Kind == yaml.MappingNode && i+1 < len(m.Content); i += 2 {
				kn := m.Content[i]
				k := kn.Value
				if slices.Contains(allowed, k) || isRepeat(m, i) {
					continue
				}
				h := "allowed keys here: " + strings.Join(allowed, ", ")
				if s := Closest(k, allowed); s != "" {
					h = fmt.Sprintf("did you mean %q? allowed keys here: %s", s, strings.Join(allowed, ", "))
				}
				if len(allowed) == 0 {
					h = ""
				}
				out = append(out, Problem{Pos: nodePos(file, kn), Severity: Error, Message: where(fmt.Sprintf("unknown key %q", k)), Hint: h})
			}
			continue
		case "required":
			for _, k := range v.Keys {
				out = append(out, Problem{Pos: nodePos(file, at), Severity: Error, Message: where(fmt.Sprintf("missing required key %q", k)), Hint: hint})
			}
			continue
		case "false":
			out = append(out, Problem{Pos: nodePos(file, at), Severity: Error, Message: where("not allowed here"), Hint: hint})
			continue
		}
		msg := v.Message
		if lv := last.val; v.Keyword == "type" && strings.HasSuffix(msg, "but got string") && lv != nil && lv.Kind == yaml.ScalarNode &&
			lv.Style == 0 && (lv.ShortTag() == "!!int" || lv.ShortTag() == "!!float") {
			hint = fmt.Sprintf("YAML 1.2 reads %s as a string (it has no _ separators and no 0b binary); write the number in decimal, 0o octal or 0x hex", lv.Value)
		}
		switch {
		case strings.Contains(v.Location, "$defs/secret") && (v.Keyword == "minProperties" || v.Keyword == "maxProperties"):
			msg = "a secret reference takes exactly one of env or file"
		case strings.HasSuffix(v.Location, "/version/const"):
			msg = "must be 1"
		}
		out = append(out, Problem{Pos: nodePos(file, last.val), Severity: Error, Message: where(msg), Hint: hint})
	}
	return out
}

func mappingOf(n *yaml.Node) *yaml.Node {
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		return n.Content[0]
	}
	return n
}

// hintFor returns advice for a violation, by the schema rule that failed.
func hintFor(v schema.Violation) string {
	loc := v.Location
	switch {
	case strings.Contains(loc, "$defs/secret"):
		return "a secret value is a string, {env: NAME} or {file: PATH}"
	case strings.Contains(loc, "$defs/name"):
		return "use lowercase letters, digits and hyphens, starting with a letter or digit, at most 63 characters"
	case strings.Contains(loc, "$defs/flowRules"):
		if len(v.Path) > 0 && v.Path[len(v.Path)-1] == "element" {
			return "adobe-flow connections have no element; remove it"
		}
		return "adobe-flow accepts only oauth2Tokens auth with clientId, clientSecret, accessToken and refreshToken"
	case strings.Contains(loc, "$defs/elementsRules"):
		return "description is for adobe-flow connections only; use tags or configuration instead"
	case strings.Contains(loc, "$defs/auth/allOf"):
		return "apiKey takes apiKey; oauth2 takes clientId, clientSecret, callbackURL, scopes and code; oauth2Tokens takes clientId, clientSecret, callbackURL, accessToken, refreshToken, expiresIn and scopes"
	case strings.Contains(loc, "$defs/baseURL"), strings.Contains(loc, "callbackURL"):
		return "write a full URL such as https://api.example.com/path"
	case strings.HasSuffix(loc, "/version/const"):
		return "this hubprov reads manifest version 1"
	case strings.Contains(loc, "target/allOf/1"):
		return "open-connectors is regional: give the base URL of your region, e.g. https://api.openconnectors.us2.ext.hana.ondemand.com/elements/api-v2"
	}
	return ""
}

// Closest returns the entry of allowed nearest to k (case aside, at most two
// edits away), or "": the "did you mean" of an unknown key, command or flag.
func Closest(k string, allowed []string) string {
	best, bestD := "", 3
	lk := strings.ToLower(k)
	for _, a := range allowed {
		if strings.ToLower(a) == lk {
			return a
		}
		if d := editDistance(lk, strings.ToLower(a)); d < bestD {
			best, bestD = a, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// isRepeat reports whether the key at m.Content[i] repeats an earlier one (the
// converter reports that, and keeps the first).
func isRepeat(m *yaml.Node, i int) bool {
	for j := 0; j < i; j += 2 {
		if m.Content[j].Value == m.Content[i].Value {
			return true
		}
	}
	return false
}
