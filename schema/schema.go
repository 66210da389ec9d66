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
	"math"
	"net/url"
	"sort"
	"strconv"
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
	once      sync.Once
	published *jsonschema.Schema            // the schema as published
	compiled  map[string]*jsonschema.Schema // the loader's copy: "" for the whole file, and defs
	leanDoc   map[string]any                // the loader's copy, for AllowedKeys
	errInit   error
)

// defs are the definitions compiled on their own beside the root, from the
// loader's copy of the schema: see ValidateDef.
var defs = []string{"account", "defaults", "auth"}

const leanID = "https://hubprov.dev/schema/manifest-loader.schema.json"

// leanSchema returns the loader's copy of the schema. The published schema is
// shaped for editors (yaml-language-server completes what a oneOf alternative
// or an if/then branch allows): auth is a oneOf by type, target by platform,
// a secret is string | {env} | {file}, accounts and defaults are picked by the
// target's platform. A failed oneOf yields the errors of every alternative, so
// the loader validates against a copy that accepts a superset and checks the
// difference in Go with one message per cause: auth keys of every type (the
// manifest package checks which the type allows), one target mapping whose
// credentials depend on the platform, one secret mapping, and the accounts and
// defaults of any platform (the manifest package checks the platform's rules).
func leanSchema() ([]byte, error) {
	var d map[string]any
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("parse embedded schema: %w", err)
	}
	d["$id"] = leanID
	defs, _ := d["$defs"].(map[string]any)
	props, _ := d["properties"].(map[string]any)
	get := func(m any, path ...string) any {
		for _, k := range path {
			mm, _ := m.(map[string]any)
			m = mm[k]
		}
		return m
	}
	if defs == nil || props == nil || get(defs, "secretEnv", "properties", "env") == nil || get(defs, "authAny") == nil {
		return nil, errors.New("embedded schema: unexpected shape")
	}
	defs["secret"] = map[string]any{
		"type":                 []any{"string", "object"},
		"additionalProperties": false,
		"minProperties":        1,
		"maxProperties":        1,
		"properties": map[string]any{
			"env":  get(defs, "secretEnv", "properties", "env"),
			"file": get(defs, "secretFile", "properties", "file"),
		},
	}
	defs["auth"] = map[string]any{"$ref": "#/$defs/authAny"}
	defs["flowAuth"] = map[string]any{"$ref": "#/$defs/authAny"}
	platform := func(p string) map[string]any {
		return map[string]any{"required": []any{"platform"}, "properties": map[string]any{"platform": map[string]any{"const": p}}}
	}
	defs["target"] = map[string]any{
		"type":                 "object",
		"additionalProperties": false,
		"required":             []any{"platform", "credentials"},
		"properties": map[string]any{
			"platform":    map[string]any{"enum": []any{"cloud-elements", "open-connectors", "adobe-flow"}},
			"baseURL":     map[string]any{"$ref": "#/$defs/baseURL"},
			"credentials": map[string]any{"type": "object"},
		},
		"allOf": []any{
			map[string]any{
				"if":   platform("adobe-flow"),
				"then": map[string]any{"properties": map[string]any{"credentials": map[string]any{"$ref": "#/$defs/flowCredentials"}}},
				"else": map[string]any{"properties": map[string]any{"credentials": map[string]any{"$ref": "#/$defs/elementsCredentials"}}},
			},
			// hint: see manifest's hintFor, "target/allOf/1"
			map[string]any{"if": platform("open-connectors"), "then": map[string]any{"required": []any{"baseURL"}}},
		},
	}
	props["defaults"] = map[string]any{"$ref": "#/$defs/defaults"}
	if a, ok := props["accounts"].(map[string]any); ok {
		a["items"] = map[string]any{"$ref": "#/$defs/account"}
	}
	delete(d, "if")
	delete(d, "then")
	delete(d, "else")
	return json.Marshal(d)
}

func load() {
	once.Do(func() {
		c := jsonschema.NewCompiler()
		c.Draft = jsonschema.Draft2020
		c.LoadURL = func(s string) (io.ReadCloser, error) { return nil, fmt.Errorf("remote schema %q refused", s) }
		if err := c.AddResource(ID, bytes.NewReader(raw)); err != nil {
			errInit = fmt.Errorf("add embedded schema: %w", err)
			return
		}
		lean, err := leanSchema()
		if err != nil {
			errInit = err
			return
		}
		if err := c.AddResource(leanID, bytes.NewReader(lean)); err != nil {
			errInit = fmt.Errorf("add the loader's schema: %w", err)
			return
		}
		if err := json.Unmarshal(lean, &leanDoc); err != nil {
			errInit = fmt.Errorf("parse the loader's schema: %w", err)
			return
		}
		compiled = map[string]*jsonschema.Schema{}
		s, err := c.Compile(ID)
		if err != nil {
			errInit = fmt.Errorf("compile schema: %w", err)
			return
		}
		published = s
		if compiled[""], err = c.Compile(leanID); err != nil {
			errInit = fmt.Errorf("compile the loader's schema: %w", err)
			return
		}
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
// string, int, int64, float64, []any, map[string]any) against the published
// schema, as an editor or any other JSON Schema validator does.
func Validate(v any) ([]Violation, error) {
	load()
	if errInit != nil {
		return nil, errInit
	}
	return violations(published.Validate(v))
}

// ValidateDef checks v against the loader's copy of the schema (see
// leanSchema): against its definition $defs/def ("account", "defaults" or
// "auth"), or against the whole file when def is empty. The copy leaves three
// kinds of rule of the published schema to the caller: which auth keys each
// auth type allows, the platform's rules for accounts and defaults (no element
// on adobe-flow, which takes only oauth2Tokens; no description elsewhere). The
// error is non-nil only when the schema cannot be compiled or v holds a
// non-JSON type. It is safe for concurrent use.
func ValidateDef(def string, v any) ([]Violation, error) {
	load()
	if errInit != nil {
		return nil, errInit
	}
	s, ok := compiled[def]
	if !ok {
		return nil, fmt.Errorf("schema: no compiled definition %q", def)
	}
	return violations(s.Validate(v))
}

func violations(err error) ([]Violation, error) {
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

// collect appends the leaves of the error tree. An anyOf or oneOf whose
// alternatives each failed only on the value's type gives one violation
// naming every type, as a type list would: "expected string or boolean or
// number, but got object".
func collect(e *jsonschema.ValidationError, out *[]Violation) {
	if len(e.Causes) > 0 {
		if kw := e.KeywordLocation[strings.LastIndexByte(e.KeywordLocation, '/')+1:]; kw == "anyOf" || kw == "oneOf" {
			if v, ok := typeOnly(e); ok {
				*out = append(*out, v)
				return
			}
		}
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
		// v5 appends "but found <value>": keep only the rule, its bound as written
		// in the schema (v5 prints 2147483647 as 2.147483647e+09).
		if i := strings.Index(msg, " but found"); i >= 0 {
			msg = msg[:i]
		}
		if i := strings.LastIndexByte(msg, ' '); i >= 0 {
			if f, err := strconv.ParseFloat(msg[i+1:], 64); err == nil && f == math.Trunc(f) && math.Abs(f) < 1e15 {
				msg = msg[:i+1] + strconv.FormatFloat(f, 'f', -1, 64)
			}
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

// typeOnly merges the alternatives of e when each failed on one type rule at
// e's own instance location.
func typeOnly(e *jsonschema.ValidationError) (Violation, bool) {
	var want []string
	got := ""
	for _, c := range e.Causes {
		var leaves []Violation
		collect(c, &leaves)
		if len(leaves) != 1 || leaves[0].Keyword != "type" {
			return Violation{}, false
		}
		exp, g, ok := strings.Cut(strings.TrimPrefix(leaves[0].Message, "expected "), ", but got ")
		if !ok || c.InstanceLocation != e.InstanceLocation {
			return Violation{}, false
		}
		want, got = append(want, exp), g
	}
	loc := e.AbsoluteKeywordLocation
	if i := strings.IndexByte(loc, '#'); i >= 0 {
		loc = loc[i:]
	}
	return Violation{Path: splitPointer(e.InstanceLocation), Keyword: "type", Location: loc,
		Message: "expected " + strings.Join(want, " or ") + ", but got " + got}, true
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
// location in the loader's copy of the schema (an absolute keyword location such as
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
	var cur any = leanDoc
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
