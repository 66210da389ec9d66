package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// TestSchemasStrict compiles every published schema with jsonschema v5 as
// draft 2020-12 (which checks it against the draft's meta-schema) and holds it
// to the rules of ajv's strict mode, which editors' validators follow:
// strictSchema (no unknown keyword), strictTypes (a keyword for one JSON type
// only where that type is declared, in the same schema or in the one whose
// allOf/anyOf/oneOf/if/then/else/not it sits in; no union types) and
// strictRequired (a required key is declared in properties there too).
// (Reported: ajv --strict could not compile the manifest schema, and warned 23
// times without it.)
func TestSchemasStrict(t *testing.T) {
	for _, name := range Names {
		doc, _ := Document(name)
		c := jsonschema.NewCompiler()
		c.Draft = jsonschema.Draft2020
		if err := c.AddResource("https://hubprov.dev/schema/"+name, bytes.NewReader(doc)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Compile("https://hubprov.dev/schema/" + name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		var v any
		if err := json.Unmarshal(doc, &v); err != nil {
			t.Fatal(err)
		}
		var problems []string
		strictLint(v, "#", nil, &problems)
		sort.Strings(problems)
		for _, p := range problems {
			t.Errorf("%s: %s", name, p)
		}
	}
}

// The draft 2020-12 keywords, and the JSON type each type-specific one needs.
var (
	keywordType = map[string]string{
		"properties": "object", "required": "object", "additionalProperties": "object", "minProperties": "object",
		"maxProperties": "object", "patternProperties": "object", "propertyNames": "object",
		"unevaluatedProperties": "object", "dependentRequired": "object", "dependentSchemas": "object",
		"items": "array", "prefixItems": "array", "minItems": "array", "maxItems": "array", "uniqueItems": "array",
		"contains": "array", "unevaluatedItems": "array",
		"pattern": "string", "minLength": "string", "maxLength": "string", "format": "string",
		"minimum": "number", "maximum": "number", "exclusiveMinimum": "number", "exclusiveMaximum": "number", "multipleOf": "number",
	}
	otherKeywords = []string{"$schema", "$id", "$ref", "$defs", "$comment", "$anchor", "title", "description", "default",
		"examples", "deprecated", "readOnly", "writeOnly", "type", "enum", "const", "allOf", "anyOf", "oneOf", "not",
		"if", "then", "else"}
	applicators = []string{"allOf", "anyOf", "oneOf", "not", "if", "then", "else"}
)

// strictLint checks schema s at path; outer are the schemas whose applicators
// s sits in, nearest last.
func strictLint(s any, path string, outer []map[string]any, problems *[]string) {
	m, ok := s.(map[string]any)
	if !ok {
		return // true or false
	}
	chain := append(slices.Clone(outer), m)
	declaredType := func(want string) bool {
		for _, o := range chain {
			if t, _ := o["type"].(string); t == want || want == "number" && t == "integer" {
				return true
			}
		}
		return false
	}
	declaredProp := func(k string) bool {
		for _, o := range chain {
			if p, _ := o["properties"].(map[string]any); p != nil && p[k] != nil {
				return true
			}
		}
		return false
	}
	for k, v := range m {
		want, typed := keywordType[k]
		switch {
		case typed && !declaredType(want):
			*problems = append(*problems, fmt.Sprintf("%s: %s without type %q (strictTypes)", path, k, want))
		case !typed && !slices.Contains(otherKeywords, k):
			*problems = append(*problems, fmt.Sprintf("%s: unknown keyword %q (strictSchema)", path, k))
		}
		if k == "type" {
			if _, ok := v.(string); !ok {
				*problems = append(*problems, fmt.Sprintf("%s: union type %v (strictTypes)", path, v))
			}
		}
		if k == "required" {
			for _, r := range v.([]any) {
				if !declaredProp(r.(string)) {
					*problems = append(*problems, fmt.Sprintf("%s: required %q not in properties (strictRequired)", path, r))
				}
			}
		}
	}
	// Recurse: applicators keep the chain; anything else starts afresh.
	for _, k := range applicators {
		switch v := m[k].(type) {
		case []any:
			for i, e := range v {
				strictLint(e, fmt.Sprintf("%s/%s/%d", path, k, i), chain, problems)
			}
		case map[string]any, bool:
			strictLint(v, path+"/"+k, chain, problems)
		}
	}
	for _, k := range []string{"properties", "$defs", "patternProperties", "dependentSchemas"} {
		if mm, ok := m[k].(map[string]any); ok {
			for name, e := range mm {
				strictLint(e, path+"/"+k+"/"+strings.ReplaceAll(name, "/", "~1"), nil, problems)
			}
		}
	}
	for _, k := range []string{"additionalProperties", "items", "contains", "propertyNames", "unevaluatedProperties", "unevaluatedItems"} {
		if e, ok := m[k]; ok {
			strictLint(e, path+"/"+k, nil, problems)
		}
	}
}

// TestStrictLintFindsTheOldMistakes: the lint rejects what ajv rejected in
// the earlier manifest schema.
func TestStrictLintFindsTheOldMistakes(t *testing.T) {
	old := `{"type": "object", "properties": {"a": {"type": ["string", "object"]}, "t": {}},
	  "allOf": [{"if": {"required": ["t"], "properties": {"t": {"required": ["p"]}}}, "then": {"x-y": 1}}]}`
	var v any
	if err := json.Unmarshal([]byte(old), &v); err != nil {
		t.Fatal(err)
	}
	var problems []string
	strictLint(v, "#", nil, &problems)
	sort.Strings(problems)
	want := []string{
		`#/allOf/0/if/properties/t: required "p" not in properties (strictRequired)`,
		`#/allOf/0/if/properties/t: required without type "object" (strictTypes)`,
		`#/allOf/0/then: unknown keyword "x-y" (strictSchema)`,
		`#/properties/a: union type [string object] (strictTypes)`,
	}
	if fmt.Sprint(problems) != fmt.Sprint(want) {
		t.Errorf("problems\n%s\nwant\n%s", strings.Join(problems, "\n"), strings.Join(want, "\n"))
	}
}
