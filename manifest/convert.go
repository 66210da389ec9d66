package manifest

import (
	"math"
	"regexp"
	"strconv"

	"gopkg.in/yaml.v3"
)

// converter turns yaml.Node trees into JSON values (nil, bool, string, int64,
// float64, []any, map[string]any) by tag, without reflection. Timestamps and
// unknown tags stay strings. Problems (aliases, non-string or duplicate keys,
// non-finite numbers) are recorded with their positions.
type converter struct {
	file  string
	probs []Problem
}

func (c *converter) errorf(n *yaml.Node, hint, format string, args ...any) {
	c.probs = append(c.probs, Problem{Pos: nodePos(c.file, n), Severity: Error, Message: sprintf(format, args...), Hint: hint})
}

func nodePos(file string, n *yaml.Node) Pos {
	if n == nil {
		return Pos{File: file, Line: 1, Col: 1}
	}
	return Pos{File: file, Line: n.Line, Col: n.Column}
}

// value converts n. skipAccounts replaces the items of a root "accounts"
// sequence with an empty list (they are converted one by one elsewhere).
func (c *converter) value(n *yaml.Node, depth int) any {
	if depth > 200 {
		c.errorf(n, "", "nesting deeper than 200 levels")
		return nil
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil
		}
		return c.value(n.Content[0], depth)
	case yaml.AliasNode:
		c.errorf(n, "write the value out in full; hubprov accepts no YAML aliases or merge keys", "YAML aliases are not allowed")
		return nil
	case yaml.SequenceNode:
		out := make([]any, len(n.Content))
		for i, e := range n.Content {
			out[i] = c.value(e, depth+1)
		}
		return out
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		var first map[string]*yaml.Node // only for mappings too big to scan
		if len(n.Content) > 32 {
			first = make(map[string]*yaml.Node, len(n.Content)/2)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, ok := c.key(n, i, first)
			if !ok {
				continue
			}
			out[key] = c.value(n.Content[i+1], depth+1)
		}
		return out
	case yaml.ScalarNode:
		return c.scalar(n)
	}
	return nil
}

// key checks the key at m.Content[i]: a string scalar, not repeated in m.
// first, when not nil, maps each key seen so far to its node.
func (c *converter) key(m *yaml.Node, i int, first map[string]*yaml.Node) (string, bool) {
	k := m.Content[i]
	if k.Kind == yaml.AliasNode {
		c.errorf(k, "write the key out in full; hubprov accepts no YAML aliases", "YAML aliases are not allowed")
		return "", false
	}
	if k.Kind != yaml.ScalarNode {
		c.errorf(k, "", "a mapping key must be a string, not a %s", kindName(k))
		return "", false
	}
	switch k.ShortTag() {
	case "!!str":
	case "!!merge":
		c.errorf(k, "write the keys out in full; hubprov accepts no YAML aliases or merge keys", "YAML merge keys (<<) are not allowed")
		return "", false
	default:
		c.errorf(k, "quote the key to make it a string", "a mapping key must be a string, not %s", tagName(k.ShortTag()))
		return "", false
	}
	var p *yaml.Node
	if first != nil {
		p = first[k.Value]
		if p == nil {
			first[k.Value] = k
		}
	} else {
		for j := 0; j < i; j += 2 {
			if q := m.Content[j]; q.Kind == yaml.ScalarNode && q.Value == k.Value && q.ShortTag() == "!!str" {
				p = q
				break
			}
		}
	}
	if p != nil {
		c.errorf(k, "remove one of them", "key %q is repeated (first at line %d col %d)", k.Value, p.Line, p.Column)
		return "", false
	}
	return k.Value, true
}

func (c *converter) scalar(n *yaml.Node) any {
	switch n.ShortTag() {
	case "!!null":
		return nil
	case "!!bool":
		switch n.Value {
		case "true", "True", "TRUE":
			return true
		case "false", "False", "FALSE":
			return false
		}
		var b bool
		if err := n.Decode(&b); err == nil {
			return b
		}
		return n.Value
	case "!!int", "!!float":
		return c.number(n)
	default:
		// !!str, !!timestamp, !!binary and unknown tags: the text as written.
		return n.Value
	}
}

// The YAML 1.2 core schema's number forms (YAML 1.2.2, section 10.3.2).
// yaml.v3 resolves YAML 1.1's too (1_800, 0b1, -0x1F, 012 as octal); every
// YAML 1.2 tool, an editor's included, reads those as strings or as decimal.
var (
	yamlInt   = regexp.MustCompile(`^[-+]?[0-9]+$`)
	yamlOct   = regexp.MustCompile(`^0o[0-7]+$`)
	yamlHex   = regexp.MustCompile(`^0x[0-9a-fA-F]+$`)
	yamlFloat = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)
	yamlInf   = regexp.MustCompile(`^[-+]?\.(inf|Inf|INF)$`)
	yamlNaN   = regexp.MustCompile(`^\.(nan|NaN|NAN)$`)
)

// number converts a scalar yaml.v3 resolved as !!int or !!float by the YAML
// 1.2 core schema: an int64 for an integer in range, a float64 for any other
// number (an integer beyond int64 included, so a schema maximum rejects it
// rather than the value being lost). A plain scalar that is no YAML 1.2 number
// is the string it reads as; an explicit !!int or !!float tag on one is an error.
func (c *converter) number(n *yaml.Node) any {
	v := n.Value
	tagged := n.Style&yaml.TaggedStyle != 0
	switch {
	case yamlInt.MatchString(v):
		if i, err := strconv.ParseInt(v, 10, 64); err == nil {
			return i
		}
		f, _ := strconv.ParseFloat(v, 64)
		return f
	case yamlOct.MatchString(v), yamlHex.MatchString(v):
		base := 8
		if v[1] == 'x' {
			base = 16
		}
		if i, err := strconv.ParseInt(v[2:], base, 64); err == nil {
			return i
		}
		u, _ := strconv.ParseUint(v[2:], base, 64)
		return float64(u) // beyond int64, as for a decimal
	case yamlFloat.MatchString(v):
		f, err := strconv.ParseFloat(v, 64)
		if err != nil && !math.IsInf(f, 0) {
			c.errorf(n, "", "invalid number")
			return nil
		}
		return c.finite(n, f)
	case yamlInf.MatchString(v), yamlNaN.MatchString(v):
		return c.finite(n, math.Inf(1))
	case tagged:
		c.errorf(n, "write it as YAML 1.2 does: 1800, 0o17, 0x1F, 1.5 or 1e3", "invalid %s %q", map[bool]string{true: "integer", false: "number"}[n.ShortTag() == "!!int"], v)
		return nil
	}
	return v
}

func (c *converter) finite(n *yaml.Node, f float64) any {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		c.errorf(n, "quote it to make it a string", "a number must be finite")
		return nil
	}
	return f
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "sequence"
	case yaml.AliasNode:
		return "alias"
	}
	return "scalar"
}

func tagName(t string) string {
	switch t {
	case "!!int":
		return "an integer"
	case "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!null":
		return "null"
	case "!!timestamp":
		return "a timestamp"
	}
	return t
}
