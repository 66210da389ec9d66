package emulator

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Flow Service constants.
const (
	// HubSpotConnectionSpec is the HubSpot connection spec id on Flow Service.
	HubSpotConnectionSpec = "cc6a4487-9e91-433e-a3a3-9cf6626c1806"
	flowDefaultLimit      = 100
	flowMaxLimit          = 1000
	flowErrorType         = "https://ns.adobe.com/aep/errors/FLOW-"
)

// flowParams are the HubSpot auth params, all required; the last three are
// secrets, masked in responses.
var flowParams = []string{"clientId", "clientSecret", "accessToken", "refreshToken"}

func isFlowSecret(k string) bool { return k != "clientId" }

// flowConn is one Flow Service base connection.
type flowConn struct {
	id          string
	seq         int64
	name        string
	description string
	specName    string
	params      map[string]string
	specVersion string
	state       string // enabled or disabled
	etag        string // quoted
	sandbox     string
	created     time.Time
	deleted     time.Time // under ListLag, when a deleted connection is still listed
	updatedAt   time.Time
	updates     int
}

func isFlow(path string) bool { return strings.HasPrefix(path, FlowServicePrefix+"/") }

func (e *Emulator) routesFlowService() {
	p := FlowServicePrefix
	e.handle("POST "+p+"/connections", OpCreate, e.flowCreate)
	e.handle("GET "+p+"/connections", OpList, e.flowList)
	e.handle("GET "+p+"/connections/{id}", OpGet, e.flowGet)
	e.handle("PATCH "+p+"/connections/{id}", OpUpdate, e.flowPatch)
	e.handle("DELETE "+p+"/connections/{id}", OpDelete, e.flowDelete)
	e.mux.HandleFunc(p+"/", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := e.flowAuthorized(w, r); !ok {
			return
		}
		e.flowError(w, http.StatusNotFound, "FLOW-1101-404", "Resource not found", "No resource at "+r.Method+" "+r.URL.Path)
	})
}

// flowError writes a Flow Service application error.
func (e *Emulator) flowError(w http.ResponseWriter, status int, code, title, msg string) {
	writeJSON(w, status, map[string]any{
		"type":   flowErrorType + strings.TrimPrefix(code, "FLOW-"),
		"title":  title,
		"status": status,
		"report": map[string]any{
			"detailed-message": msg,
			"request-id":       e.requestID(),
		},
		"errorMessage": msg,
	})
}

// gatewayError writes an Adobe I/O gateway error (api-contract.md 3.7).
func gatewayError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"error_code": code, "message": msg})
}

// flowAuthorized checks the four Flow Service headers in the gateway's order
// and answers with the gateway's error when one fails. It returns the sandbox.
func (e *Emulator) flowAuthorized(w http.ResponseWriter, r *http.Request) (string, bool) {
	auth := r.Header.Get("Authorization")
	tok, bearer := strings.CutPrefix(auth, "Bearer ")
	switch {
	case auth == "" || !bearer || strings.TrimSpace(tok) == "":
		gatewayError(w, http.StatusForbidden, "403010", "Oauth token is missing.")
		return "", false
	case tok != e.opts.FlowToken:
		gatewayError(w, http.StatusUnauthorized, "401013", "Oauth token is not valid")
		return "", false
	}
	switch key := r.Header.Get("x-api-key"); {
	case key == "":
		gatewayError(w, http.StatusForbidden, "403000", "Api Key is required")
		return "", false
	case key != e.opts.FlowAPIKey:
		gatewayError(w, http.StatusForbidden, "403003", "Api Key is invalid")
		return "", false
	}
	switch org := r.Header.Get("x-gw-ims-org-id"); {
	case org == "":
		gatewayError(w, http.StatusBadRequest, "400003", "Missing header x-gw-ims-org-id")
		return "", false
	case org != e.opts.FlowIMSOrg:
		gatewayError(w, http.StatusForbidden, "403025", "Profile is not valid")
		return "", false
	}
	sb := r.Header.Get("x-sandbox-name")
	if sb == "" {
		e.flowError(w, http.StatusBadRequest, "FLOW-2105-400", "Bad Request", "The header 'x-sandbox-name' is missing")
		return "", false
	}
	return sb, true
}

// flowBody checks the content type and decodes a JSON body.
func (e *Emulator) flowBody(w http.ResponseWriter, r *http.Request, v any) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" && mt != "application/json-patch+json" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"type": "/placeholder/type/uri", "status": 400,
			"title": "BadRequestError", "detail": "A valid content-type must be specified"})
		return false
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<20)).Decode(v); err != nil {
		e.flowError(w, http.StatusBadRequest, "FLOW-1100-400", "Bad Request", "Invalid JSON body: "+err.Error())
		return false
	}
	return true
}

type flowCreateBody struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Auth        struct {
		SpecName string            `json:"specName"`
		Params   map[string]string `json:"params"`
	} `json:"auth"`
	ConnectionSpec struct {
		ID      string `json:"id"`
		Version string `json:"version"`
	} `json:"connectionSpec"`
}

// missingParams names the required HubSpot auth params absent from p.
func missingParams(p map[string]string) []string {
	var missing []string
	for _, k := range flowParams {
		if p[k] == "" {
			missing = append(missing, "auth.params."+k)
		}
	}
	return missing
}

// flowState is the state a connection takes from its params: "disabled" when
// a token starts with "invalid", else "enabled".
func flowState(p map[string]string) string {
	if strings.HasPrefix(p["accessToken"], "invalid") || strings.HasPrefix(p["refreshToken"], "invalid") {
		return "disabled"
	}
	return "enabled"
}

func (e *Emulator) flowCreate(w http.ResponseWriter, r *http.Request) {
	sb, ok := e.flowAuthorized(w, r)
	if !ok {
		return
	}
	var b flowCreateBody
	if !e.flowBody(w, r, &b) {
		return
	}
	var missing []string
	if strings.TrimSpace(b.Name) == "" {
		missing = append(missing, "name")
	}
	if b.ConnectionSpec.ID == "" {
		missing = append(missing, "connectionSpec.id")
	}
	missing = append(missing, missingParams(b.Auth.Params)...)
	if len(missing) > 0 {
		e.flowError(w, http.StatusBadRequest, "FLOW-1100-400", "Bad Request", "Missing required fields: "+strings.Join(missing, ", "))
		return
	}
	if b.ConnectionSpec.ID != HubSpotConnectionSpec {
		e.flowError(w, http.StatusBadRequest, "FLOW-1102-400", "Bad Request",
			fmt.Sprintf("Connection spec %q is not known; the HubSpot connection spec is %s", b.ConnectionSpec.ID, HubSpotConnectionSpec))
		return
	}
	if b.ConnectionSpec.Version == "" {
		b.ConnectionSpec.Version = "1.0"
	}
	if b.Auth.SpecName == "" {
		b.Auth.SpecName = "Basic Authentication"
	}
	now := e.now().UTC()
	c := &flowConn{
		id: newUUID(), name: b.Name, description: b.Description, specName: b.Auth.SpecName,
		params: b.Auth.Params, specVersion: b.ConnectionSpec.Version, state: flowState(b.Auth.Params),
		sandbox: sb, created: now, updatedAt: now,
	}
	e.mu.Lock()
	for _, o := range e.flow {
		if o.name == c.name && o.sandbox == c.sandbox {
			e.stats.Duplicates++
			break
		}
	}
	e.fSeq++
	c.seq = e.fSeq
	c.etag = newETag(e.fSeq)
	e.flow[c.id] = c
	e.stats.Creates++
	e.mu.Unlock()
	w.Header().Set("Location", FlowServicePrefix+"/connections/"+c.id)
	writeJSON(w, http.StatusCreated, map[string]string{"id": c.id, "etag": c.etag})
}

// flowLookup finds the connection of the path's {id} in sandbox sb, or
// answers 404: a connection of another sandbox does not exist for the
// request. The caller holds e.mu.
func (e *Emulator) flowLookup(w http.ResponseWriter, r *http.Request, sb string) *flowConn {
	id := r.PathValue("id")
	if c := e.flow[id]; c != nil && c.sandbox == sb {
		return c
	}
	e.flowError(w, http.StatusNotFound, "FLOW-1101-404", "Resource not found",
		fmt.Sprintf("Resource with given id does not exist: connection id=[%s]", id))
	return nil
}

func (e *Emulator) flowGet(w http.ResponseWriter, r *http.Request) {
	sb, ok := e.flowAuthorized(w, r)
	if !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if c := e.flowLookup(w, r, sb); c != nil {
		w.Header().Set("ETag", c.etag)
		writeJSON(w, http.StatusOK, map[string]any{"items": []flowConnJSON{e.flowJSON(c)}})
	}
}

func (e *Emulator) flowDelete(w http.ResponseWriter, r *http.Request) {
	sb, ok := e.flowAuthorized(w, r)
	if !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if c := e.flowLookup(w, r, sb); c != nil {
		if e.opts.ListLag > 0 {
			c.deleted = e.now()
			e.flowGone = append(e.flowGone, c)
		}
		delete(e.flow, c.id)
		e.stats.Deletes++
		w.WriteHeader(http.StatusNoContent)
	}
}

type patchOp struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value"`
}

// flowPatch applies a JSON Patch (add, replace, remove on /name, /description,
// /auth/params and /auth/params/<k>) under If-Match.
func (e *Emulator) flowPatch(w http.ResponseWriter, r *http.Request) {
	sb, ok := e.flowAuthorized(w, r)
	if !ok {
		return
	}
	var ops []patchOp
	if !e.flowBody(w, r, &ops) {
		return
	}
	if flowCarriesCredentials(ops) {
		e.mu.Lock()
		e.stats.CredentialUpdates++
		e.mu.Unlock()
	}
	ifMatch := strings.TrimSpace(r.Header.Get("If-Match"))
	if ifMatch == "" {
		e.flowError(w, http.StatusBadRequest, "FLOW-1403-400", "Bad Request", "The header 'If-Match' is missing")
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.flowLookup(w, r, sb)
	if c == nil {
		return
	}
	if unquote(ifMatch) != unquote(c.etag) {
		e.flowError(w, http.StatusPreconditionFailed, "FLOW-1404-412", "Precondition Failed",
			fmt.Sprintf("Supplied version=[%s] does not match the current version on entity=[%s]", ifMatch, c.id))
		return
	}
	name, desc := c.name, c.description
	params := make(map[string]string, len(c.params))
	for k, v := range c.params {
		params[k] = v
	}
	bad := func(msg string) { e.flowError(w, http.StatusBadRequest, "FLOW-1455-400", "Bad Request", msg) }
	for i, op := range ops {
		kind := strings.ToLower(op.Op)
		if kind != "add" && kind != "replace" && kind != "remove" {
			bad(fmt.Sprintf("Patch operation %d: unsupported op %q (add, replace, remove)", i, op.Op))
			return
		}
		var s string
		var m map[string]string
		str := func() bool {
			if kind != "remove" && json.Unmarshal(op.Value, &s) != nil {
				bad(fmt.Sprintf("Patch operation %d: value of %s must be a string", i, op.Path))
				return false
			}
			return true
		}
		switch {
		case op.Path == "/name":
			if kind == "remove" || !str() || strings.TrimSpace(s) == "" {
				bad(fmt.Sprintf("Patch operation %d: name is required and must be a non-empty string", i))
				return
			}
			name = s
		case op.Path == "/description":
			if !str() {
				return
			}
			desc = s
		case op.Path == "/auth/params":
			if kind == "remove" || json.Unmarshal(op.Value, &m) != nil {
				bad(fmt.Sprintf("Patch operation %d: /auth/params must be an object of strings", i))
				return
			}
			params = m
		case strings.HasPrefix(op.Path, "/auth/params/") && len(op.Path) > len("/auth/params/"):
			k := strings.TrimPrefix(op.Path, "/auth/params/")
			if !str() {
				return
			}
			if kind == "remove" {
				delete(params, k)
			} else {
				params[k] = s
			}
		case strings.HasPrefix(op.Path, "/connectionSpec"):
			e.flowError(w, http.StatusBadRequest, "FLOW-1414-400", "Bad Request", "The connection spec of a connection cannot be changed")
			return
		default:
			bad(fmt.Sprintf("Patch operation %d: path %q cannot be patched", i, op.Path))
			return
		}
	}
	if missing := missingParams(params); len(missing) > 0 {
		e.flowError(w, http.StatusBadRequest, "FLOW-1100-400", "Bad Request", "Missing required fields: "+strings.Join(missing, ", "))
		return
	}
	c.name, c.description, c.params = name, desc, params
	c.state = flowState(params)
	e.fSeq++
	c.etag = newETag(e.fSeq)
	c.updatedAt = e.now().UTC()
	c.updates++
	e.stats.Updates++
	writeJSON(w, http.StatusOK, map[string]string{"id": c.id, "etag": c.etag})
}

// flowCarriesCredentials reports whether a JSON Patch writes the auth params
// or one secret param.
func flowCarriesCredentials(ops []patchOp) bool {
	for _, op := range ops {
		k, one := strings.CutPrefix(op.Path, "/auth/params/")
		if op.Path == "/auth/params" || one && isFlowSecret(k) {
			return true
		}
	}
	return false
}

func unquote(s string) string {
	s = strings.TrimPrefix(s, "W/")
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// flowFilter is one property= filter: a property path, an operator and the
// values compared with; == and != take a comma-separated list.
type flowFilter struct {
	path   string
	op     string
	values []string
}

// flowOps are the filter operators, longest first where one starts another.
var flowOps = []string{"==", "!=", ">=", "<=", ">", "<"}

func parseFilters(props []string) ([]flowFilter, error) {
	var fs []flowFilter
	for _, p := range props {
		at, op := -1, ""
		for _, o := range flowOps {
			if i := strings.Index(p, o); i >= 0 && (at < 0 || i < at) {
				at, op = i, o
			}
		}
		if at <= 0 {
			return nil, fmt.Errorf("invalid property filter %q: expected a property, an operator (==, !=, >, <, >=, <=) and a value", p)
		}
		f := flowFilter{path: p[:at], op: op}
		val := p[at+len(op):]
		if op == "==" || op == "!=" {
			for _, v := range strings.Split(val, ",") {
				f.values = append(f.values, strings.Trim(v, `"`))
			}
		} else {
			f.values = []string{strings.Trim(val, `"`)}
		}
		fs = append(fs, f)
	}
	return fs, nil
}

// match applies the filter to a property value; ok is false when the
// connection has no such property.
func (f flowFilter) match(v any, ok bool) bool {
	switch f.op {
	case "==", "!=":
		eq := false
		for _, want := range f.values {
			if ok && compareProp(v, want) == 0 {
				eq = true
				break
			}
		}
		return eq == (f.op == "==")
	}
	if !ok {
		return false
	}
	c := compareProp(v, f.values[0])
	switch f.op {
	case ">":
		return c > 0
	case "<":
		return c < 0
	case ">=":
		return c >= 0
	default:
		return c <= 0
	}
}

// compareProp compares a property value with a query value: numerically when
// both are numbers, else as text.
func compareProp(v any, s string) int {
	if n, ok := number(v); ok {
		if m, err := strconv.ParseFloat(s, 64); err == nil {
			return cmpFloat(n, m)
		}
	}
	return strings.Compare(propText(v), s)
}

// compareKeys orders two sort keys: absent first, numbers numerically, the
// rest as text.
func compareKeys(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	if n, ok := number(a); ok {
		if m, ok := number(b); ok {
			return cmpFloat(n, m)
		}
	}
	return strings.Compare(propText(a), propText(b))
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case float64:
		return n, true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

func propText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// flowProp returns the property at path (dotted, as in property= filters) of
// a connection as the API shows it. The caller holds e.mu.
func (e *Emulator) flowProp(c *flowConn, path string) (any, bool) {
	switch path {
	case "id":
		return c.id, true
	case "name":
		return c.name, true
	case "description":
		return c.description, true
	case "state":
		return c.state, true
	case "connectionSpec.id":
		return HubSpotConnectionSpec, true
	case "connectionSpec.version":
		return c.specVersion, true
	case "createdAt":
		return c.created.UnixMilli(), true
	case "updatedAt":
		return c.updatedAt.UnixMilli(), true
	case "sandboxName":
		return c.sandbox, true
	case "auth.specName":
		return c.specName, true
	case "etag", "version":
		return c.etag, true
	}
	b, _ := json.Marshal(e.flowJSON(c))
	var v any
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	_ = dec.Decode(&v)
	for _, part := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[part]; !ok {
			return nil, false
		}
	}
	return v, true
}

// flowCursor is the state a continuation token carries: the query and the
// position (sort key and sequence) after which the next page starts.
type flowCursor struct {
	Props   []string `json:"p,omitempty"`
	OrderBy string   `json:"o,omitempty"`
	Limit   int      `json:"l"`
	Key     any      `json:"k,omitempty"`
	Seq     int64    `json:"s"`
}

// flowList serves GET /connections in the request's sandbox: property=
// filters (repeatable, ANDed) on any property with ==, !=, >, <, >=, <=;
// orderby on any property (+ ascending, the default, or - descending; default
// creation order); limit (default 100, max 1000) and continuationToken (alone
// or with the original query); count=true, which answers {"count": N} and
// cannot be combined with limit.
func (e *Emulator) flowList(w http.ResponseWriter, r *http.Request) {
	sb, ok := e.flowAuthorized(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	bad := func(msg string) { e.flowError(w, http.StatusBadRequest, "FLOW-1100-400", "Bad Request", msg) }
	countOnly := q.Get("count") == "true"
	if countOnly && q.Has("limit") {
		e.flowError(w, http.StatusBadRequest, "FLOW-1401-400", "Bad Request", "The query parameter 'count' cannot be combined with 'limit'")
		return
	}
	cur := flowCursor{Props: q["property"], OrderBy: q.Get("orderby"), Limit: flowDefaultLimit}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			bad(fmt.Sprintf("Invalid limit %q: expected a positive integer", s))
			return
		}
		cur.Limit = min(n, flowMaxLimit)
	}
	var after *flowCursor
	if tok := q.Get("continuationToken"); tok != "" && !countOnly {
		var c flowCursor
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err == nil {
			dec := json.NewDecoder(strings.NewReader(string(b)))
			dec.UseNumber()
			err = dec.Decode(&c)
		}
		if err != nil {
			bad("Invalid continuationToken")
			return
		}
		after = &c
		if len(cur.Props) == 0 {
			cur.Props = c.Props
		}
		if cur.OrderBy == "" {
			cur.OrderBy = c.OrderBy
		}
		if q.Get("limit") == "" {
			cur.Limit = c.Limit
		}
	}
	filters, err := parseFilters(cur.Props)
	if err != nil {
		bad(err.Error())
		return
	}
	key, desc := "", false
	if o := cur.OrderBy; o != "" {
		// "+name" unescaped in a query reads as " name": a leading space is the plus.
		key = strings.TrimLeft(o, "+- ")
		desc = strings.HasPrefix(o, "-")
		if key == "" {
			bad(fmt.Sprintf("Invalid orderby %q: expected a property, optionally prefixed by + or -", o))
			return
		}
	}
	type row struct {
		c   *flowConn
		key any
	}
	// less orders rows by the sort key (in its direction), then by creation.
	less := func(ak any, as int64, bk any, bs int64) bool {
		if key != "" {
			if c := compareKeys(ak, bk); c != 0 {
				return (c < 0) != desc
			}
		}
		return as < bs
	}
	e.mu.Lock()
	var match []row
	now := e.now()
	for _, c := range e.flowListing(now) {
		if c.sandbox != sb || !e.listed(now, c.created, c.deleted) {
			continue
		}
		ok := true
		for _, f := range filters {
			v, has := e.flowProp(c, f.path)
			if ok = f.match(v, has); !ok {
				break
			}
		}
		if !ok {
			continue
		}
		rw := row{c: c}
		if key != "" {
			rw.key, _ = e.flowProp(c, key)
			if n, isNum := number(rw.key); isNum {
				rw.key = n
			}
		}
		if after == nil || countOnly || less(normKey(after.Key), after.Seq, rw.key, c.seq) {
			match = append(match, rw)
		}
	}
	if countOnly {
		e.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]int{"count": len(match)})
		return
	}
	sort.Slice(match, func(i, j int) bool { return less(match[i].key, match[i].c.seq, match[j].key, match[j].c.seq) })
	resp := map[string]any{}
	if len(match) > cur.Limit {
		match = match[:cur.Limit]
		last := match[len(match)-1]
		next := cur
		next.Seq, next.Key = last.c.seq, last.key
		b, _ := json.Marshal(next)
		tok := base64.RawURLEncoding.EncodeToString(b)
		v := url.Values{"continuationToken": {tok}, "limit": {strconv.Itoa(cur.Limit)}}
		if len(cur.Props) > 0 {
			v["property"] = cur.Props
		}
		if cur.OrderBy != "" {
			v.Set("orderby", cur.OrderBy)
		}
		resp["continuationToken"] = tok
		resp["_links"] = map[string]any{"next": map[string]string{"href": "/connections?" + v.Encode()}}
	}
	items := make([]flowConnJSON, len(match))
	for i, rw := range match {
		items[i] = e.flowJSON(rw.c)
	}
	e.mu.Unlock()
	resp["items"] = items
	writeJSON(w, http.StatusOK, resp)
}

// normKey turns a sort key read back from a continuation token into the form
// flowList compares: numbers as float64.
func normKey(k any) any {
	if n, ok := number(k); ok {
		return n
	}
	return k
}

// flowConnJSON is a connection as Flow Service shows it (api-contract.md 3.2).
type flowConnJSON struct {
	ID             string `json:"id"`
	CreatedAt      int64  `json:"createdAt"`
	UpdatedAt      int64  `json:"updatedAt"`
	CreatedBy      string `json:"createdBy"`
	UpdatedBy      string `json:"updatedBy"`
	CreatedClient  string `json:"createdClient"`
	UpdatedClient  string `json:"updatedClient"`
	SandboxID      string `json:"sandboxId"`
	SandboxName    string `json:"sandboxName"`
	IMSOrgID       string `json:"imsOrgId"`
	Name           string `json:"name"`
	Description    string `json:"description"`
	ConnectionSpec struct {
		ID      string `json:"id"`
		Version string `json:"version"`
	} `json:"connectionSpec"`
	State string `json:"state"`
	Auth  struct {
		SpecName string            `json:"specName"`
		Params   map[string]string `json:"params"`
	} `json:"auth"`
	Version string `json:"version"`
	Etag    string `json:"etag"`
}

// flowJSON renders c with secret params masked. The caller holds e.mu.
func (e *Emulator) flowJSON(c *flowConn) flowConnJSON {
	v := flowConnJSON{
		ID: c.id, CreatedAt: c.created.UnixMilli(), UpdatedAt: c.updatedAt.UnixMilli(),
		CreatedBy: "demo@AdobeID", UpdatedBy: "demo@AdobeID", CreatedClient: e.opts.FlowAPIKey, UpdatedClient: e.opts.FlowAPIKey,
		SandboxID: "00000000-0000-4000-8000-" + fmt.Sprintf("%012x", len(c.sandbox)), SandboxName: c.sandbox, IMSOrgID: e.opts.FlowIMSOrg,
		Name: c.name, Description: c.description, State: c.state, Version: c.etag, Etag: c.etag,
	}
	v.ConnectionSpec.ID = HubSpotConnectionSpec
	v.ConnectionSpec.Version = c.specVersion
	v.Auth.SpecName = c.specName
	v.Auth.Params = make(map[string]string, len(c.params))
	for k, val := range c.params {
		if isFlowSecret(k) {
			val = masked
		}
		v.Auth.Params[k] = val
	}
	return v
}

// newUUID returns a random version 4 UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// newETag returns a quoted etag like Flow Service's, distinct for each n.
func newETag(n int64) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("\"%x-0000-0200-0000-%012x\"", b, n)
}

// flowListing returns the connections a list at now walks: the live ones and,
// under ListLag, those deleted too recently for the list to know. Called with
// e.mu held.
func (e *Emulator) flowListing(now time.Time) []*flowConn {
	all := make([]*flowConn, 0, len(e.flow)+len(e.flowGone))
	for _, c := range e.flow {
		all = append(all, c)
	}
	kept := e.flowGone[:0]
	for _, c := range e.flowGone {
		if e.listed(now, c.created, c.deleted) {
			kept = append(kept, c)
		}
	}
	e.flowGone = kept
	return append(all, kept...)
}
