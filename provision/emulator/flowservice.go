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
	now := time.Now().UTC()
	c := &flowConn{
		id: newUUID(), name: b.Name, description: b.Description, specName: b.Auth.SpecName,
		params: b.Auth.Params, specVersion: b.ConnectionSpec.Version, state: flowState(b.Auth.Params),
		sandbox: sb, created: now, updatedAt: now,
	}
	e.mu.Lock()
	for _, o := range e.flow {
		if o.name == c.name {
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

// flowLookup finds the connection of the path's {id}, or answers 404. The
// caller holds e.mu.
func (e *Emulator) flowLookup(w http.ResponseWriter, r *http.Request) *flowConn {
	id := r.PathValue("id")
	if c := e.flow[id]; c != nil {
		return c
	}
	e.flowError(w, http.StatusNotFound, "FLOW-1101-404", "Resource not found",
		fmt.Sprintf("Resource with given id does not exist: connection id=[%s]", id))
	return nil
}

func (e *Emulator) flowGet(w http.ResponseWriter, r *http.Request) {
	if _, ok := e.flowAuthorized(w, r); !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if c := e.flowLookup(w, r); c != nil {
		w.Header().Set("ETag", c.etag)
		writeJSON(w, http.StatusOK, map[string]any{"items": []flowConnJSON{e.flowJSON(c)}})
	}
}

func (e *Emulator) flowDelete(w http.ResponseWriter, r *http.Request) {
	if _, ok := e.flowAuthorized(w, r); !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if c := e.flowLookup(w, r); c != nil {
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
	if _, ok := e.flowAuthorized(w, r); !ok {
		return
	}
	var ops []patchOp
	if !e.flowBody(w, r, &ops) {
		return
	}
	ifMatch := strings.TrimSpace(r.Header.Get("If-Match"))
	if ifMatch == "" {
		e.flowError(w, http.StatusBadRequest, "FLOW-1403-400", "Bad Request", "The header 'If-Match' is missing")
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.flowLookup(w, r)
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
	c.updatedAt = time.Now().UTC()
	c.updates++
	e.stats.Updates++
	writeJSON(w, http.StatusOK, map[string]string{"id": c.id, "etag": c.etag})
}

func unquote(s string) string {
	s = strings.TrimPrefix(s, "W/")
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// flowFilter is one property= filter: field==v1,v2 or field!=v.
type flowFilter struct {
	field  string
	neg    bool
	values []string
}

func (f flowFilter) match(c *flowConn) bool {
	var v string
	switch f.field {
	case "id":
		v = c.id
	case "name":
		v = c.name
	case "description":
		v = c.description
	case "connectionSpec.id":
		v = HubSpotConnectionSpec
	case "state":
		v = c.state
	}
	for _, want := range f.values {
		if v == want {
			return !f.neg
		}
	}
	return f.neg
}

func parseFilters(props []string) ([]flowFilter, error) {
	var fs []flowFilter
	for _, p := range props {
		var f flowFilter
		field, val, ok := strings.Cut(p, "!=")
		if ok {
			f.neg = true
		} else if field, val, ok = strings.Cut(p, "=="); !ok {
			return nil, fmt.Errorf("invalid property filter %q: expected field==value or field!=value", p)
		}
		switch field {
		case "id", "name", "description", "connectionSpec.id", "state":
		default:
			return nil, fmt.Errorf("invalid property filter %q: field %q cannot be filtered (id, name, description, connectionSpec.id, state)", p, field)
		}
		f.field = field
		for _, v := range strings.Split(val, ",") {
			f.values = append(f.values, strings.Trim(v, `"`))
		}
		fs = append(fs, f)
	}
	return fs, nil
}

// flowCursor is the state a continuation token carries: the query and the
// position after which the next page starts.
type flowCursor struct {
	Props   []string `json:"p,omitempty"`
	OrderBy string   `json:"o,omitempty"`
	Limit   int      `json:"l"`
	Name    string   `json:"n,omitempty"`
	Seq     int64    `json:"s"`
}

// flowList serves GET /connections with property= filters (repeatable, ANDed),
// orderby (name, +name, -name; default creation order), limit (default 100,
// max 1000) and continuationToken (alone or with the original query).
func (e *Emulator) flowList(w http.ResponseWriter, r *http.Request) {
	if _, ok := e.flowAuthorized(w, r); !ok {
		return
	}
	q := r.URL.Query()
	cur := flowCursor{Props: q["property"], OrderBy: q.Get("orderby"), Limit: flowDefaultLimit}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			e.flowError(w, http.StatusBadRequest, "FLOW-1100-400", "Bad Request", fmt.Sprintf("Invalid limit %q: expected a positive integer", s))
			return
		}
		cur.Limit = min(n, flowMaxLimit)
	}
	var after *flowCursor
	if tok := q.Get("continuationToken"); tok != "" {
		var c flowCursor
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err == nil {
			err = json.Unmarshal(b, &c)
		}
		if err != nil {
			e.flowError(w, http.StatusBadRequest, "FLOW-1100-400", "Bad Request", "Invalid continuationToken")
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
		e.flowError(w, http.StatusBadRequest, "FLOW-1100-400", "Bad Request", err.Error())
		return
	}
	var byName, desc bool
	switch cur.OrderBy {
	case "":
	case "name", "+name":
		byName = true
	case "-name":
		byName, desc = true, true
	default:
		e.flowError(w, http.StatusBadRequest, "FLOW-1100-400", "Bad Request", fmt.Sprintf("Invalid orderby %q: name, +name or -name", cur.OrderBy))
		return
	}
	less := func(an string, as int64, bn string, bs int64) bool {
		if byName && an != bn {
			return (an < bn) != desc
		}
		return as < bs
	}
	e.mu.Lock()
	var match []*flowConn
	for _, c := range e.flow {
		ok := after == nil || less(after.Name, after.Seq, c.name, c.seq)
		for _, f := range filters {
			ok = ok && f.match(c)
		}
		if ok {
			match = append(match, c)
		}
	}
	sort.Slice(match, func(i, j int) bool { return less(match[i].name, match[i].seq, match[j].name, match[j].seq) })
	resp := map[string]any{}
	if len(match) > cur.Limit {
		match = match[:cur.Limit]
		last := match[len(match)-1]
		next := cur
		next.Seq = last.seq
		if byName {
			next.Name = last.name
		}
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
	for i, c := range match {
		items[i] = e.flowJSON(c)
	}
	e.mu.Unlock()
	resp["items"] = items
	writeJSON(w, http.StatusOK, resp)
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
