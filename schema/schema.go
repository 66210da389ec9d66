// Package schema owns hubprov's JSON Schemas (draft 2020-12): the manifest's
// (schema/manifest.schema.json, compiled once, and validation of JSON values
// against it or against one of its definitions) and those of the outputs that
// scripts read: the report, the plan and validate's diagnostics.
package schema

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// ID is the schema's $id.
const ID = "https://hubprov.dev/schema/manifest.schema.json"

//go:embed manifest.schema.json
var raw []byte

//go:embed report.schema.json
var reportRaw []byte

//go:embed plan.schema.json
var planRaw []byte

//go:embed diagnostics.schema.json
var diagnosticsRaw []byte

// JSON returns the manifest schema document.
func JSON() []byte { return bytes.Clone(raw) }

// Names lists the schemas Document knows, the manifest's first.
var Names = []string{"manifest", "report", "plan", "diagnostics"}

// Document returns the schema document called name: "manifest", "report"
// (hubprov-report.json), "plan" (plan --json and --out) or "diagnostics"
// (validate --format json). ok is false for any other name.
func Document(name string) (doc []byte, ok bool) {
	switch name {
	case "manifest":
		return JSON(), true
	case "report":
		return bytes.Clone(reportRaw), true
	case "plan":
		return bytes.Clone(planRaw), true
	case "diagnostics":
		return bytes.Clone(diagnosticsRaw), true
	}
	return nil, false
}

// Violation is one failed schema rule.
type Violation struct {
	// Path is the instance location as unescaped tokens; empty for the root.
	Path []string
	// Keyword is the failed keyword: "type", "required", "additionalProperties",
	// "false" (a key that is not allowed here), and so on.
	Keyword string
	// Location is the absolute keyword location, e.g. "#/$defs/auth/properties/type/enum".
	Location string
	// Message says what is wrong. It never quotes the instance's value, only the schema's.
	Message string
	// Keys are the offending keys for "additionalProperties" and the missing ones for "required".
	Keys []string
}

var (
	once     sync.Once
	compiled map[string]*jsonschema.Schema
	doc      map[string]any
	errInit  error
)

// defs are the definitions compiled on their own beside the root, from the
// lean copy of the schema: see ValidateDef.
var defs = []string{"account", "defaults", "auth"}

const leanID = "https://hubprov.dev/schema/manifest-lean.schema.json"

// leanSchema returns the schema without $defs/auth/allOf.
func leanSchema() ([]byte, error) {
	var d map[string]any
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("parse embedded schema: %w", err)
	}
	d["$id"] = leanID
	defs, _ := d["$defs"].(map[string]any)
	auth, _ := defs["auth"].(map[string]any)
	delete(auth, "allOf")
	return json.Marshal(d)
}

func load() {
	once.Do(func() {
		if err := json.Unmarshal(raw, &doc); err != nil {
			errInit = fmt.Errorf("parse embedded schema: %w", err)
			return
		}
		c := jsonschema.NewCompiler()
		c.Draft = jsonschema.Draft2020
		c.LoadURL = func(s string) (io.ReadCloser, error) { return nil, fmt.Errorf("remote schema %q refused", s) }
		if err := c.AddResource(ID, bytes.NewReader(raw)); err != nil {
			errInit = fmt.Errorf("add embedded schema: %w", err)
			return
		}
		// The lean copy drops the auth type conditionals, which cost v5 a failed
		// "if" per type and account; the manifest package checks them in Go.
		lean, err := leanSchema()
		if err != nil {
			errInit = err
			return
		}
		if err := c.AddResource(leanID, bytes.NewReader(lean)); err != nil {
			errInit = fmt.Errorf("add lean schema: %w", err)
			return
		}
		compiled = map[string]*jsonschema.Schema{}
		s, err := c.Compile(ID)
		if err != nil {
			errInit = fmt.Errorf("compile schema: %w", err)
			return
		}
		compiled[""] = s
		for _, d := range defs {
			s, err := c.Compile(leanID + "#/$defs/" + d)
			if err != nil {
				errInit = fmt.Errorf("compile schema definition %s: %w", d, err)
				return
			}
			compiled[d] = s
		}
	})
}

// Validate checks a whole manifest file's value (JSON types only: nil, bool,
// string, int, int64, float64, []any, map[string]any) against the schema.
func Validate(v any) ([]Violation, error) { return ValidateDef("", v) }

// ValidateDef checks v against the definition $defs/def ("account", "defaults"
// or "auth"), or against the whole schema when def is empty. The definitions
// leave out one rule of the whole schema, for speed: which auth keys each auth
// type allows ($defs/auth/allOf); callers check it themselves. The error is
// non-nil only when the schema cannot be compiled or v holds a non-JSON type.
// It is safe for concurrent use.
func ValidateDef(def string, v any) ([]Violation, error) {
	load()
	if errInit != nil {
		return nil, errInit
	}
	s, ok := compiled[def]
	if !ok {
		return nil, fmt.Errorf("schema: no compiled definition %q", def)
	}
	err := s.Validate(v)
	if err == nil {
		return nil, nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return nil, err
	}
	var out []Violation
	collect(ve, &out)
	return out, nil
}

// collect appends the leaves of the error tree.
func collect(e *jsonschema.ValidationError, out *[]Violation) {
	if len(e.Causes) > 0 {
		for _, c := range e.Causes {
			collect(c, out)
		}
		return
	}
	loc := e.AbsoluteKeywordLocation
	if i := strings.IndexByte(loc, '#'); i >= 0 {
		loc = loc[i:]
	}
	v := Violation{Path: splitPointer(e.InstanceLocation), Location: loc}
	kw := loc[strings.LastIndexByte(loc, '/')+1:]
	msg := e.Message
	switch {
	case msg == "not allowed":
		kw = "false"
	case kw == "additionalProperties":
		v.Keys = quoted(msg)
	case kw == "required":
		v.Keys = quoted(msg)
	case kw == "maximum" || kw == "minimum" || kw == "exclusiveMaximum" || kw == "exclusiveMinimum":
		// v5 appends "but found <value>": keep only the rule.
		if i := strings.Index(msg, " but found"); i >= 0 {
			msg = msg[:i]
		}
	case kw == "maxLength" || kw == "minLength" || kw == "maxItems" || kw == "minItems" || kw == "maxProperties" || kw == "minProperties":
		if i := strings.Index(msg, ", but got"); i >= 0 {
			msg = msg[:i]
		}
		if i := strings.Index(msg, ", but found"); i >= 0 {
			msg = msg[:i]
		}
	}
	v.Keyword = kw
	v.Message = msg
	*out = append(*out, v)
}

// quoted returns the 'single-quoted' words of a v5 message.
func quoted(msg string) []string {
	var out []string
	for {
		i := strings.IndexByte(msg, '\'')
		if i < 0 {
			return out
		}
		j := strings.IndexByte(msg[i+1:], '\'')
		if j < 0 {
			return out
		}
		out = append(out, msg[i+1:i+1+j])
		msg = msg[i+2+j:]
	}
}

// splitPointer splits a v5 instance location into tokens. v5 escapes each token
// with ~0/~1 and then url.PathEscape, so undo %XX first, then ~1, then ~0.
func splitPointer(p string) []string {
	if p == "" {
		return nil
	}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, t := range parts {
		if u, err := url.PathUnescape(t); err == nil {
			t = u
		}
		t = strings.ReplaceAll(t, "~1", "/")
		parts[i] = strings.ReplaceAll(t, "~0", "~")
	}
	return parts
}

// AllowedKeys returns the property names declared beside the keyword at
// location (an absolute keyword location such as
// "#/$defs/account/additionalProperties"), sorted; nil when there are none.
func AllowedKeys(location string) []string {
	load()
	if errInit != nil {
		return nil
	}
	tokens := splitPointer(strings.TrimPrefix(location, "#"))
	if len(tokens) == 0 {
		return nil
	}
	var cur any = doc
	for _, t := range tokens[:len(tokens)-1] {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[t]
		case []any:
			var i int
			if _, err := fmt.Sscan(t, &i); err != nil || i < 0 || i >= len(c) {
				return nil
			}
			cur = c[i]
		default:
			return nil
		}
	}
	m, _ := cur.(map[string]any)
	props, _ := m["properties"].(map[string]any)
	var out []string
	for k := range props {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
