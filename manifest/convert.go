package manifest

import (
	"math"
	"strconv"
	"strings"

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
	case "!!int":
		if i, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
			return i
		}
		var v any
		if err := n.Decode(&v); err == nil {
			switch x := v.(type) {
			case int:
				return int64(x)
			case int64, uint64:
				return x
			case float64:
				return c.finite(n, x)
			}
		}
		c.errorf(n, "", "invalid integer")
		return nil
	case "!!float":
		f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
		if err != nil {
			var v any
			if err := n.Decode(&v); err == nil {
				if x, ok := v.(float64); ok {
					return c.finite(n, x)
				}
			}
			c.errorf(n, "", "invalid number")
			return nil
		}
		return c.finite(n, f)
	default:
		// !!str, !!timestamp, !!binary and unknown tags: the text as written.
		return n.Value
	}
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
