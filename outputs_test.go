package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/hubprov/hubprov/provision"
	"github.com/hubprov/hubprov/provision/emulator"
	"github.com/hubprov/hubprov/schema"
)

// The checks in this file run on every command the tests of package main run
// through runCLI: each JSON output is validated against its published schema
// (hubprov schema report|plan|diagnostics) and each JUnit file against the
// Jenkins xUnit XSD in testdata/junit.

var (
	outputSchemasOnce sync.Once
	outputSchemas     map[string]*jsonschema.Schema
	outputSchemasErr  error
)

// outputSchema returns the compiled schema called name, with formats asserted.
func outputSchema(t testing.TB, name string) *jsonschema.Schema {
	t.Helper()
	outputSchemasOnce.Do(func() {
		outputSchemas = map[string]*jsonschema.Schema{}
		for _, n := range schema.Names {
			doc, _ := schema.Document(n)
			c := jsonschema.NewCompiler()
			c.Draft = jsonschema.Draft2020
			c.AssertFormat = true
			url := "https://hubprov.dev/schema/" + n + ".schema.json"
			if err := c.AddResource(url, bytes.NewReader(doc)); err != nil {
				outputSchemasErr = fmt.Errorf("%s: %w", n, err)
				return
			}
			s, err := c.Compile(url)
			if err != nil {
				outputSchemasErr = fmt.Errorf("%s: %w", n, err)
				return
			}
			outputSchemas[n] = s
		}
	})
	if outputSchemasErr != nil {
		t.Fatalf("compile output schemas: %v", outputSchemasErr)
	}
	return outputSchemas[name]
}

// checkJSONOutput validates data against the schema called name.
func checkJSONOutput(t testing.TB, name, what string, data []byte) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Errorf("%s: not JSON: %v\n%.500s", what, err, data)
		return
	}
	if err := outputSchema(t, name).Validate(v); err != nil {
		t.Errorf("%s does not match hubprov schema %s:\n%#v\n%.2000s", what, name, err, data)
	}
}

// outputFiles are the files a command's flags name, by the schema that fits them.
func outputFiles(args []string) map[string]string {
	flags := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name, val, ok := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !ok {
			if i+1 >= len(args) {
				continue
			}
			switch name {
			case "report", "junit", "out", "format":
				val = args[i+1]
				i++
			default:
				continue
			}
		}
		flags[name] = val
	}
	return flags
}

// snapshotOutputs reads the files a command may write, before it runs.
func snapshotOutputs(args []string) map[string][]byte {
	before := map[string][]byte{}
	for _, p := range outputFiles(args) {
		b, _ := os.ReadFile(p)
		before[p] = b
	}
	return before
}

// checkOutputs validates what one command printed and wrote: stdout of
// validate --format json, plan --json, report merge and schema; the files of
// --report, --out and --junit that the command (re)wrote.
func checkOutputs(t testing.TB, args []string, before map[string][]byte, code int, stdout string) {
	t.Helper()
	if len(args) == 0 || contains(args, "-h") || contains(args, "--help") || contains(args, "-help") {
		return
	}
	flags := outputFiles(args)
	changed := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil || bytes.Equal(b, before[p]) {
			return nil
		}
		return b
	}
	cmd := args[0]
	sub := ""
	if len(args) > 1 {
		sub = args[1]
	}
	isJSON := flags["format"] == "json" || contains(args, "--json") || contains(args, "-json")
	switch {
	case cmd == "validate" && isJSON && stdout != "":
		checkJSONOutput(t, "diagnostics", "validate --format json", []byte(stdout))
	case cmd == "plan":
		if isJSON && (code == exitOK || code == exitChanges) {
			checkJSONOutput(t, "plan", "plan --json", []byte(stdout))
		}
		if p := flags["out"]; p != "" {
			if b := changed(p); b != nil {
				checkJSONOutput(t, "plan", "plan --out "+p, b)
			}
		}
	case cmd == "report" && sub == "merge":
		if p := flags["out"]; p != "" {
			if b := changed(p); b != nil {
				checkJSONOutput(t, "report", "report merge --out", b)
			}
		} else if code == exitOK {
			checkJSONOutput(t, "report", "report merge", []byte(stdout))
		}
	case cmd == "schema" && code == exitOK:
		var v any
		if err := json.Unmarshal([]byte(stdout), &v); err != nil {
			t.Errorf("hubprov %s: not JSON: %v", strings.Join(args, " "), err)
		}
	}
	if cmd == "apply" || cmd == "destroy" || cmd == "consent" {
		if p := flags["report"]; p != "" {
			if b := changed(p); b != nil {
				checkJSONOutput(t, "report", cmd+" --report "+p, b)
			}
		}
		if p := flags["junit"]; p != "" {
			if b := changed(p); b != nil {
				checkJUnit(t, p, b)
			}
		}
	}
}

// junitXSD is the Jenkins xUnit plugin's JUnit schema.
const junitXSD = "testdata/junit/junit-10.xsd"

// checkJUnit validates a JUnit file against junitXSD: with xmllint when it is
// installed, and always with xsdCheck. It also checks what the Ant JUnit schema
// adds for the suite (errors, hostname, properties, a timestamp without zone)
// and that the counts agree with the cases.
func checkJUnit(t testing.TB, path string, data []byte) {
	t.Helper()
	xsdPath := junitXSD
	if abs, err := filepath.Abs(junitXSD); err == nil {
		xsdPath = abs
	}
	if _, err := os.Stat(xsdPath); err != nil {
		// A test that changed directory: find the XSD beside this package.
		xsdPath = filepath.Join(moduleRoot(t), junitXSD)
	}
	if xmllint, err := exec.LookPath("xmllint"); err == nil {
		out, err := exec.Command(xmllint, "--noout", "--schema", xsdPath, path).CombinedOutput()
		if err != nil {
			t.Errorf("xmllint --schema %s %s: %v\n%s", junitXSD, path, err, out)
		}
	}
	xsd, err := os.ReadFile(xsdPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := xsdCheck(xsd, data); err != nil {
		t.Errorf("%s does not match %s: %v\n%.2000s", path, junitXSD, err, data)
	}
	var suite struct {
		Tests     int    `xml:"tests,attr"`
		Failures  string `xml:"failures,attr"`
		Errors    string `xml:"errors,attr"`
		Skipped   string `xml:"skipped,attr"`
		Time      string `xml:"time,attr"`
		Timestamp string `xml:"timestamp,attr"`
		Hostname  string `xml:"hostname,attr"`
		Props     *struct {
			Items []struct {
				Name string `xml:"name,attr"`
			} `xml:"property"`
		} `xml:"properties"`
		Cases []struct {
			Name      string    `xml:"name,attr"`
			Classname string    `xml:"classname,attr"`
			Time      string    `xml:"time,attr"`
			Failure   *struct{} `xml:"failure"`
			Error     *struct{} `xml:"error"`
			Skipped   *struct{} `xml:"skipped"`
			Out       *string   `xml:"system-out"`
		} `xml:"testcase"`
	}
	if err := xml.Unmarshal(data, &suite); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var f, e, s int
	for _, c := range suite.Cases {
		if c.Failure != nil {
			f++
		}
		if c.Error != nil {
			e++
		}
		if c.Skipped != nil {
			s++
		}
		if c.Out == nil || !strings.HasPrefix(*c.Out, "action: ") {
			t.Errorf("%s: case %s has no system-out with its action", path, c.Name)
		}
		if _, err := strconv.ParseFloat(c.Time, 64); err != nil || c.Classname == "" {
			t.Errorf("%s: case %s: time %q, classname %q", path, c.Name, c.Time, c.Classname)
		}
	}
	got := fmt.Sprintf("%d/%s/%s/%s", suite.Tests, suite.Failures, suite.Errors, suite.Skipped)
	if want := fmt.Sprintf("%d/%d/%d/%d", len(suite.Cases), f, e, s); got != want {
		t.Errorf("%s: tests/failures/errors/skipped %s, the cases say %s", path, got, want)
	}
	if !antTimestamp.MatchString(suite.Timestamp) || suite.Hostname == "" || suite.Props == nil || len(suite.Props.Items) == 0 {
		t.Errorf("%s: timestamp %q (want no zone), hostname %q, properties %v", path, suite.Timestamp, suite.Hostname, suite.Props)
	}
	if _, err := strconv.ParseFloat(suite.Time, 64); err != nil {
		t.Errorf("%s: suite time %q is not a decimal", path, suite.Time)
	}
}

// antTimestamp is the Ant JUnit schema's ISO8601_DATETIME_PATTERN.
var antTimestamp = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}$`)

func moduleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
}

// xsdNode is any XML element, for both the XSD and the document.
type xsdNode struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Nodes   []xsdNode  `xml:",any"`
	Text    string     `xml:",chardata"`
}

func (n *xsdNode) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// xsdElement is what an XSD declares of one element.
type xsdElement struct {
	simple   bool            // a simple type: text only, no attributes
	mixed    bool            // text allowed between children
	attrs    map[string]bool // declared attributes: true when required
	children map[string]bool // elements allowed inside
}

// xsdCheck checks doc against the global element declarations of xsd. It
// covers what junit-10.xsd uses: global elements with a simple type or a
// complex type of nested xs:sequence/xs:choice of element references (every
// group there repeats without bound, so membership is the whole rule),
// xs:attribute with use="required", and mixed content.
func xsdCheck(xsd, doc []byte) error {
	var root xsdNode
	if err := xml.Unmarshal(xsd, &root); err != nil {
		return fmt.Errorf("parse XSD: %w", err)
	}
	decls := map[string]*xsdElement{}
	for _, el := range root.Nodes {
		if el.XMLName.Local != "element" {
			continue
		}
		d := &xsdElement{attrs: map[string]bool{}, children: map[string]bool{}}
		switch t := el.attr("type"); {
		case t == "xs:string":
			d.simple = true
		case t != "":
			return fmt.Errorf("element %s: type %s is beyond this checker", el.attr("name"), t)
		}
		for _, ct := range el.Nodes {
			if ct.XMLName.Local != "complexType" {
				continue
			}
			d.mixed = ct.attr("mixed") == "true"
			var walk func(n xsdNode) error
			walk = func(n xsdNode) error {
				for _, c := range n.Nodes {
					switch c.XMLName.Local {
					case "sequence", "choice":
						if err := walk(c); err != nil {
							return err
						}
					case "element":
						if c.attr("ref") == "" {
							return fmt.Errorf("local element declarations are beyond this checker")
						}
						d.children[c.attr("ref")] = true
					case "attribute":
						d.attrs[c.attr("name")] = c.attr("use") == "required"
					case "annotation":
					default:
						return fmt.Errorf("XSD construct %s is beyond this checker", c.XMLName.Local)
					}
				}
				return nil
			}
			if err := walk(ct); err != nil {
				return err
			}
		}
		decls[el.attr("name")] = d
	}
	var top xsdNode
	if err := xml.Unmarshal(doc, &top); err != nil {
		return fmt.Errorf("parse document: %w", err)
	}
	var check func(n xsdNode, path string) error
	check = func(n xsdNode, path string) error {
		name := n.XMLName.Local
		path += "/" + name
		d := decls[name]
		if d == nil {
			return fmt.Errorf("%s: element not declared", path)
		}
		seen := map[string]bool{}
		for _, a := range n.Attrs {
			if a.Name.Space != "" {
				continue
			}
			if _, ok := d.attrs[a.Name.Local]; !ok || d.simple {
				return fmt.Errorf("%s: attribute %s not declared", path, a.Name.Local)
			}
			seen[a.Name.Local] = true
		}
		for a, req := range d.attrs {
			if req && !seen[a] {
				return fmt.Errorf("%s: required attribute %s missing", path, a)
			}
		}
		if len(n.Nodes) > 0 && d.simple {
			return fmt.Errorf("%s: a simple type holds no elements", path)
		}
		if !d.simple && !d.mixed && strings.TrimSpace(n.Text) != "" {
			return fmt.Errorf("%s: text where the schema allows only elements", path)
		}
		for _, c := range n.Nodes {
			if !d.children[c.XMLName.Local] {
				return fmt.Errorf("%s: element %s not allowed here", path, c.XMLName.Local)
			}
			if err := check(c, path); err != nil {
				return err
			}
		}
		return nil
	}
	return check(top, "")
}

// TestXSDCheckRejects: the Go check of junit-10.xsd finds each kind of mistake.
func TestXSDCheckRejects(t *testing.T) {
	xsd, err := os.ReadFile(junitXSD)
	if err != nil {
		t.Fatal(err)
	}
	for doc, want := range map[string]string{
		`<testsuite tests="1"><testcase name="a"><system-out>x</system-out></testcase></testsuite>`: "",
		`<testsuite><testcase name="a"/></testsuite>`:                                               "required attribute tests",
		`<testsuite tests="1"><testcase/></testsuite>`:                                              "required attribute name",
		`<testsuite tests="1" flaky="2"/>`:                                                          "attribute flaky not declared",
		`<testsuite tests="1"><case name="a"/></testsuite>`:                                         "element case not allowed",
		`<testsuite tests="1"><testcase name="a"><properties/></testcase></testsuite>`:              "element properties not allowed",
		`<testsuite tests="1">stray</testsuite>`:                                                    "text where",
		`<testsuite tests="1"><system-out><b/></system-out></testsuite>`:                            "simple type",
		`<report/>`: "not declared",
	} {
		err := xsdCheck(xsd, []byte(doc))
		if (want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", doc, err, want)
		}
	}
}

// TestJUnitForCI: the JUnit of a run with successes, errors (creates the
// platform failed), failures (an unhealthy instance), and skips (an account
// awaiting consent) passes the Jenkins xUnit XSD (checkJUnit, through runCLI),
// names each case by its account with the set as classname, puts the action in
// system-out, and keeps the same case names on the next run, whose actions
// differ. (Reported: case names included the action, so CI history broke.)
func TestJUnitForCI(t *testing.T) {
	demoCredentials(t)
	ee := newEngineEnv(t, emulator.Options{Seed: 3, OpFaults: map[emulator.Op]emulator.Faults{emulator.OpCreate: {Rate500: 0.4}}})
	m := ee.writeManifest(12, func(i int, a string) string {
		switch i {
		case 1: // the emulator makes an instance from a code starting "invalid" not valid
			return strings.Replace(a, fmt.Sprintf("code: PLANTED-code-%04d-x9", i), "code: invalid-code", 1)
		case 4: // no code: awaiting-consent
			return strings.Replace(a, fmt.Sprintf(", code: PLANTED-code-%04d-x9", i), "", 1)
		}
		return a
	})
	junit := filepath.Join(ee.dir, "junit.xml")
	caseNames := func() (names []string, kinds map[string]int, actions map[string]bool) {
		data, err := os.ReadFile(junit)
		if err != nil {
			t.Fatal(err)
		}
		var suite struct {
			Cases []struct {
				Name      string    `xml:"name,attr"`
				Classname string    `xml:"classname,attr"`
				Failure   *struct{} `xml:"failure"`
				Error     *struct{} `xml:"error"`
				Skipped   *struct{} `xml:"skipped"`
				Out       string    `xml:"system-out"`
			} `xml:"testcase"`
		}
		if err := xml.Unmarshal(data, &suite); err != nil {
			t.Fatal(err)
		}
		kinds, actions = map[string]int{}, map[string]bool{}
		for _, c := range suite.Cases {
			names = append(names, c.Name)
			if c.Classname != "acme" {
				t.Errorf("case %s: classname %q, want the set", c.Name, c.Classname)
			}
			switch {
			case c.Failure != nil:
				kinds["failure"]++
			case c.Error != nil:
				kinds["error"]++
			case c.Skipped != nil:
				kinds["skipped"]++
			default:
				kinds["passed"]++
			}
			action, _, _ := strings.Cut(strings.TrimPrefix(c.Out, "action: "), "\n")
			actions[c.Name+" "+action] = true
		}
		sort.Strings(names)
		return names, kinds, actions
	}
	var want []string
	for i := range 12 {
		want = append(want, fmt.Sprintf("portal-%04d", i))
	}
	code, _, errs := ee.hubprov("apply", "-f", m, "--verify", "--max-attempts", "1", "--parallelism", "1", "--junit", junit, "--report", filepath.Join(ee.dir, "r.json"))
	if code != exitFailures {
		t.Fatalf("first apply: exit %d, want 1\n%s", code, errs)
	}
	first, kinds, actions1 := caseNames()
	for _, k := range []string{"passed", "error", "failure", "skipped"} {
		if kinds[k] == 0 {
			t.Fatalf("first run: no %s case (%v): choose another emulator seed", k, kinds)
		}
	}
	ee.hubprov("apply", "-f", m, "--junit", junit, "--report", filepath.Join(ee.dir, "r.json"))
	second, _, actions2 := caseNames()
	if fmt.Sprint(first) != fmt.Sprint(want) || fmt.Sprint(second) != fmt.Sprint(want) {
		t.Errorf("case names\nfirst  %v\nsecond %v\nwant   %v", first, second, want)
	}
	if !actions1["portal-0000 create"] || !actions2["portal-0000 unchanged"] {
		t.Errorf("system-out actions: first %v, second %v", actions1, actions2)
	}
}

// TestSchemaNames: hubprov schema prints each schema it names (the manifest's
// by default), each compiles, and an unknown name is a usage error.
func TestSchemaNames(t *testing.T) {
	for _, name := range schema.Names {
		code, out, errs := runCLI(t, "schema", name)
		doc, _ := schema.Document(name)
		if code != exitOK || out != string(doc) {
			t.Errorf("schema %s: exit %d, %d bytes\n%s", name, code, len(out), errs)
		}
		outputSchema(t, name)
	}
	if code, out, _ := runCLI(t, "schema"); code != exitOK || out != string(schema.JSON()) {
		t.Errorf("schema: exit %d, not the manifest schema", code)
	}
	if code, _, errs := runCLI(t, "schema", "junit"); code != exitInvalid || !strings.Contains(errs, "manifest, report, plan, diagnostics") {
		t.Errorf("schema junit: exit %d\n%s", code, errs)
	}
}

// TestSummarySaysOneRequest: the summary counts in words that agree with
// the number (a rerun with nothing to do makes one request).
func TestSummarySaysOneRequest(t *testing.T) {
	var b strings.Builder
	rep := provision.Report{}
	rep.Run.Requests, rep.Run.Retries = 1, 1
	printSummary(&b, rep, "r.json")
	if got := b.String(); !strings.Contains(got, "skipped.\n1 request, 0 throttled, 1 retry.\n") {
		t.Errorf("summary %q; want \"1 request, 0 throttled, 1 retry.\" on a line of its own", got)
	}
}
