package emulator

import (
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Cloud Elements / Open Connectors list paging.
const (
	ceDefaultPageSize = 200
	ceMaxPageSize     = 200
	// SetTagPrefix marks the set an instance belongs to (a hubprov convention).
	SetTagPrefix = "hubprov:set="
	masked       = "********"
)

// ceElement is the element metadata shown in instance responses (seed documents).
type ceElement struct {
	ID       int
	Name     string
	HookName string
	Key      string
	Desc     string
	Hub      string
}

var ceElements = map[string]ceElement{
	"hubspot": {ID: 43, Name: "Hubspot Marketing", HookName: "HubSpot", Key: "hubspot", Hub: "marketing",
		Desc: "Add a HubSpot Instance to connect your existing HubSpot account to the Marketing Hub, allowing you to manage accounts, campaigns, contacts, leads etc. across multiple Marketing Elements. You will need your HubSpot account information to add an instance."},
	"hubspotcrm": {ID: 229, Name: "Hubspot CRM", HookName: "HubSpotCRM", Key: "hubspotcrm", Hub: "crm",
		Desc: "HubSpot is an inbound marketing software platform that helps companies attract visitors, convert leads, and close customers."},
}

// ceSecretKeys are the configuration keys whose values responses mask. The
// platform masks the OAuth client id (oauth.api.key) too (api-contract.md 1.4).
var ceSecretKeys = map[string]bool{
	"hubspot.authorization.apikey": true,
	"oauth.api.key":                true,
	"oauth.api.secret":             true,
	"oauth.user.token":             true,
	"oauth.user.refresh_token":     true,
}

func isSecretKey(k string) bool {
	return ceSecretKeys[k] || strings.Contains(strings.ToLower(k), "password")
}

// ceInstance is one Cloud Elements / Open Connectors element instance.
type ceInstance struct {
	id           int64
	name         string
	element      string
	tags         []string
	config       map[string]*string // stored, unmasked; nil means JSON null
	lastConfig   map[string]any     // the configuration object last received
	providerData map[string]any     // the providerData last received
	valid        bool
	disabled     bool
	token        string
	created      time.Time
	deleted      time.Time // under ListLag, when a deleted instance is still listed
	updates      int
}

func (in *ceInstance) set() (string, bool) {
	for _, t := range in.tags {
		if v, ok := strings.CutPrefix(t, SetTagPrefix); ok {
			return v, true
		}
	}
	return "", false
}

func (e *Emulator) routesCloudElements() {
	p := CloudElementsPrefix
	e.handle("POST "+p+"/instances", OpCreate, e.ceCreate)
	e.handle("POST "+p+"/elements/{key}/instances", OpCreate, e.ceCreate)
	e.handle("GET "+p+"/instances", OpList, e.ceList)
	e.handle("GET "+p+"/elements/{key}/instances", OpList, e.ceList)
	e.handle("GET "+p+"/instances/{id}", OpGet, e.ceGet)
	e.handle("PATCH "+p+"/instances/{id}", OpUpdate, e.ceUpdate)
	e.handle("PUT "+p+"/instances/{id}", OpUpdate, e.ceUpdate)
	e.handle("DELETE "+p+"/instances/{id}", OpDelete, e.ceDelete)
	e.handle("GET "+p+"/elements/{key}/oauth/url", OpOAuthURL, e.ceOAuthURL)
	e.mux.HandleFunc(p+"/", func(w http.ResponseWriter, r *http.Request) {
		if !e.ceAuthorized(w, r) {
			return
		}
		e.ceError(w, http.StatusNotFound, "No resource found at "+r.Method+" "+r.URL.Path)
	})
}

// ceError writes the platform's error body {requestId, message}.
func (e *Emulator) ceError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, struct {
		RequestID string `json:"requestId"`
		Message   string `json:"message"`
	}{e.requestID(), msg})
}

// ceAuthorized checks "Authorization: User <u>, Organization <o>" (an extra
// ", Element <token>" part is allowed) and answers 401 when it fails.
func (e *Emulator) ceAuthorized(w http.ResponseWriter, r *http.Request) bool {
	var user, org string
	var bad bool
	for _, part := range strings.Split(r.Header.Get("Authorization"), ",") {
		kind, val, _ := strings.Cut(strings.TrimSpace(part), " ")
		switch kind {
		case "User":
			user = val
		case "Organization":
			org = val
		case "Element":
		default:
			bad = true
		}
	}
	if bad || user != e.opts.User || org != e.opts.Organization {
		e.ceError(w, http.StatusUnauthorized, "Invalid Organization or User secret, or invalid Element token provided.")
		return false
	}
	return true
}

// ceBody checks the content type and decodes a JSON object body.
func (e *Emulator) ceBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		e.ceError(w, http.StatusUnsupportedMediaType, "Unsupported Media Type: Content-Type must be application/json")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<20))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		e.ceError(w, http.StatusBadRequest, "Invalid JSON body: "+err.Error())
		return false
	}
	return true
}

// ceInstanceBody is a POST, PUT or PATCH /instances body. Pointers tell absent
// from empty.
type ceInstanceBody struct {
	Element *struct {
		Key string          `json:"key"`
		ID  json.RawMessage `json:"id"`
	} `json:"element"`
	Name          *string        `json:"name"`
	Tags          *[]string      `json:"tags"`
	Configuration map[string]any `json:"configuration"`
	ProviderData  map[string]any `json:"providerData"`
}

func configString(v any) *string {
	var s string
	switch v := v.(type) {
	case nil:
		return nil
	case string:
		s = v
	case bool:
		s = strconv.FormatBool(v)
	case json.Number:
		s = v.String()
	default:
		b, _ := json.Marshal(v)
		s = string(b)
	}
	return &s
}

func nonEmpty(m map[string]any, k string) bool {
	s := configString(m[k])
	return s != nil && *s != ""
}

// ceAuthType says which HubSpot auth variant a body uses: "apiKey", "oauth2"
// (authorization code) or "oauth2Tokens" (pre-obtained tokens, the seeds'
// "OAuth 2 Legacy" body), or "" with a message when the type is unknown.
func ceAuthType(cfg, pd map[string]any) (string, string) {
	tokens := pd["access_token"] != nil || pd["refresh_token"] != nil
	t := configString(cfg["authentication.type"])
	switch {
	case t == nil || *t == "":
		switch {
		case pd["code"] != nil:
			return "oauth2", ""
		case tokens:
			return "oauth2Tokens", ""
		case cfg["hubspot.authorization.apikey"] != nil:
			return "apiKey", ""
		}
		return "oauth2", ""
	case *t == "apiKey":
		return "apiKey", ""
	case *t == "oauth2":
		if tokens && pd["code"] == nil {
			return "oauth2Tokens", ""
		}
		return "oauth2", ""
	}
	return "", fmt.Sprintf("Invalid value %q for configuration entry authentication.type: expected apiKey or oauth2", *t)
}

// ceMissing lists the required entries a create body lacks, by name.
func ceMissing(b *ceInstanceBody) (authType string, missing []string, msg string) {
	authType, msg = ceAuthType(b.Configuration, b.ProviderData)
	if msg != "" {
		return "", nil, msg
	}
	if b.Name == nil || strings.TrimSpace(*b.Name) == "" {
		missing = append(missing, "name")
	}
	need := func(m map[string]any, prefix string, keys ...string) {
		for _, k := range keys {
			if !nonEmpty(m, k) {
				missing = append(missing, prefix+k)
			}
		}
	}
	switch authType {
	case "apiKey":
		need(b.Configuration, "", "hubspot.authorization.apikey")
	case "oauth2":
		need(b.Configuration, "", "oauth.api.key", "oauth.api.secret", "oauth.callback.url")
		need(b.ProviderData, "providerData.", "code")
	case "oauth2Tokens":
		need(b.Configuration, "", "oauth.api.key", "oauth.api.secret", "oauth.callback.url")
		need(b.ProviderData, "providerData.", "access_token", "refresh_token")
	}
	if len(missing) > 0 {
		msg = "Missing required configuration entries: " + strings.Join(missing, ", ")
	}
	return authType, missing, msg
}

// ceValid says whether credentials look healthy: any code, token or API key
// starting with "invalid" makes an invalid instance (valid: false).
func ceValid(cfg map[string]*string, pd map[string]any) bool {
	for _, k := range []string{"code", "access_token", "refresh_token"} {
		if s := configString(pd[k]); s != nil && strings.HasPrefix(*s, "invalid") {
			return false
		}
	}
	if s := cfg["hubspot.authorization.apikey"]; s != nil && strings.HasPrefix(*s, "invalid") {
		return false
	}
	return true
}

// ceConfig builds the stored configuration of a created or replaced instance:
// the defaults a HubSpot instance shows (seed documents), then what was sent.
func ceConfig(authType string, cfg, pd map[string]any, now time.Time) map[string]*string {
	str := func(s string) *string { return &s }
	c := map[string]*string{
		"create.bulk.properties":             str("false"),
		"filter.response.nulls":              str("true"),
		"event.vendor.type":                  str("polling"),
		"event.poller.refresh_interval":      str("15"),
		"event.poller.urls":                  str("contacts\naccounts"),
		"event.notification.enabled":         str("false"),
		"event.notification.callback.url":    nil,
		"event.notification.subscription.id": nil,
		"event.notification.signature.key":   nil,
		"hubspot.webhook.workflow.id":        nil,
		"hubspot.authorization.apikey":       nil,
		"authentication.type":                str("oauth2"),
	}
	if authType == "apiKey" {
		c["authentication.type"] = str("apiKey")
	} else {
		c["oauth.user.token"] = str(randomToken(24))
		c["oauth.user.refresh_token"] = str(randomToken(18))
		if s := configString(pd["access_token"]); s != nil {
			c["oauth.user.token"] = s
		}
		if s := configString(pd["refresh_token"]); s != nil {
			c["oauth.user.refresh_token"] = s
		}
		c["oauth.user.refresh_interval"] = str("21600")
		c["oauth.user.refresh_time"] = str(strconv.FormatInt(now.Unix(), 10))
	}
	for k, v := range cfg {
		c[k] = configString(v)
	}
	return c
}

func (e *Emulator) ceCreate(w http.ResponseWriter, r *http.Request) {
	if !e.ceAuthorized(w, r) {
		return
	}
	var b ceInstanceBody
	if !e.ceBody(w, r, &b) {
		return
	}
	key := r.PathValue("key")
	if key == "" && b.Element != nil {
		key = b.Element.Key
	}
	if key == "" {
		e.ceError(w, http.StatusBadRequest, "Missing required entries: element.key")
		return
	}
	el, ok := ceElements[key]
	if !ok {
		e.ceError(w, http.StatusNotFound, fmt.Sprintf("No element found with key '%s'", key))
		return
	}
	authType, _, msg := ceMissing(&b)
	if msg != "" {
		e.ceError(w, http.StatusBadRequest, msg)
		return
	}
	now := e.now().UTC()
	in := &ceInstance{
		name:         *b.Name,
		element:      el.Key,
		tags:         copyTags(b.Tags),
		config:       ceConfig(authType, b.Configuration, b.ProviderData, now),
		lastConfig:   b.Configuration,
		providerData: b.ProviderData,
		token:        randomToken(30),
		created:      now,
	}
	in.valid = ceValid(in.config, b.ProviderData)
	e.mu.Lock()
	code, hasCode := ceCode(b.ProviderData)
	if hasCode && e.ceCodeUsed(code) {
		e.mu.Unlock()
		e.ceBadAuthCode(w)
		return
	}
	set, marked := in.set()
	for _, o := range e.ceNames[in.name] {
		if os, om := o.set(); os == set && om == marked {
			e.stats.Duplicates++
			break
		}
	}
	e.ceSeq++
	in.id = e.ceSeq
	e.ceAdd(in)
	if hasCode {
		e.codes[codeKey(code)] = in.id
	}
	e.stats.Creates++
	view := e.ceJSON(in)
	e.mu.Unlock()
	w.Header().Set("Location", CloudElementsPrefix+"/instances/"+strconv.FormatInt(in.id, 10))
	writeJSON(w, http.StatusOK, view)
}

// ceCode returns the authorization code of a providerData object.
func ceCode(pd map[string]any) (string, bool) {
	s := configString(pd["code"])
	if s == nil || *s == "" {
		return "", false
	}
	return *s, true
}

// ceCodeUsed reports whether code was exchanged before; if so it counts the
// reuse and revokes the grant the code produced, as RFC 6749 section 4.1.2
// says an authorization server should. Called with e.mu held.
func (e *Emulator) ceCodeUsed(code string) bool {
	id, used := e.codes[codeKey(code)]
	if !used {
		return false
	}
	e.stats.ReusedCodes++
	if in := e.ce[id]; in != nil {
		in.valid = false
	}
	return true
}

// ceBadAuthCode answers the provider error of a replayed code: the platform's
// error body with HubSpot's token endpoint answer as providerMessage.
func (e *Emulator) ceBadAuthCode(w http.ResponseWriter) {
	writeJSON(w, http.StatusBadRequest, struct {
		RequestID       string `json:"requestId"`
		Message         string `json:"message"`
		ProviderMessage string `json:"providerMessage"`
	}{e.requestID(), "Failed to retrieve the OAuth access token from the provider",
		`{"status":"BAD_AUTH_CODE","message":"missing or unknown auth code","error":"invalid_grant","error_description":"missing or unknown auth code"}`})
}

// ceCarriesCredentials reports whether an update body sends credentials:
// providerData or a configuration key the platform masks.
func ceCarriesCredentials(b *ceInstanceBody) bool {
	if len(b.ProviderData) > 0 {
		return true
	}
	for k := range b.Configuration {
		if isSecretKey(k) {
			return true
		}
	}
	return false
}

// ceLookup finds the instance of the path's {id}, or answers 404.
func (e *Emulator) ceLookup(w http.ResponseWriter, r *http.Request) *ceInstance {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err == nil {
		if in := e.ce[id]; in != nil {
			return in
		}
	}
	e.ceError(w, http.StatusNotFound, fmt.Sprintf("No instance found with ID %s", r.PathValue("id")))
	return nil
}

func (e *Emulator) ceGet(w http.ResponseWriter, r *http.Request) {
	if !e.ceAuthorized(w, r) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if in := e.ceLookup(w, r); in != nil {
		writeJSON(w, http.StatusOK, e.ceJSON(in))
	}
}

func (e *Emulator) ceDelete(w http.ResponseWriter, r *http.Request) {
	if !e.ceAuthorized(w, r) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if in := e.ceLookup(w, r); in != nil {
		e.ceRemove(in)
		e.stats.Deletes++
		w.WriteHeader(http.StatusOK)
	}
}

// ceUpdate serves PATCH (tags replaced whole, configuration merged, name,
// providerData re-auth) and PUT (the instance replaced).
func (e *Emulator) ceUpdate(w http.ResponseWriter, r *http.Request) {
	if !e.ceAuthorized(w, r) {
		return
	}
	var b ceInstanceBody
	if !e.ceBody(w, r, &b) {
		return
	}
	if ceCarriesCredentials(&b) {
		e.mu.Lock()
		e.stats.CredentialUpdates++
		e.mu.Unlock()
	}
	put := r.Method == http.MethodPut
	if b.Element != nil && b.Element.Key != "" {
		if _, ok := ceElements[b.Element.Key]; !ok {
			e.ceError(w, http.StatusNotFound, fmt.Sprintf("No element found with key '%s'", b.Element.Key))
			return
		}
	}
	if b.Name != nil && strings.TrimSpace(*b.Name) == "" || put && b.Name == nil {
		e.ceError(w, http.StatusBadRequest, "Missing required entries: name")
		return
	}
	var authType string
	if put && b.Configuration != nil {
		var msg string
		if authType, _, msg = ceMissing(&b); msg != "" {
			e.ceError(w, http.StatusBadRequest, msg)
			return
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	in := e.ceLookup(w, r)
	if in == nil {
		return
	}
	code, hasCode := ceCode(b.ProviderData)
	if hasCode && e.ceCodeUsed(code) {
		e.ceBadAuthCode(w)
		return
	}
	if hasCode {
		e.codes[codeKey(code)] = in.id
	}
	if b.Element != nil && b.Element.Key != "" {
		in.element = b.Element.Key
	}
	if b.Name != nil && *b.Name != in.name {
		e.ceRename(in, *b.Name)
	}
	if b.Tags != nil || put {
		in.tags = copyTags(b.Tags)
	}
	in.lastConfig = b.Configuration
	if b.Configuration != nil {
		if put {
			in.config = ceConfig(authType, b.Configuration, b.ProviderData, e.now().UTC())
		} else {
			for k, v := range b.Configuration {
				in.config[k] = configString(v)
			}
		}
	}
	if b.ProviderData != nil {
		in.providerData = b.ProviderData
		for pk, ck := range map[string]string{"access_token": "oauth.user.token", "refresh_token": "oauth.user.refresh_token"} {
			if s := configString(b.ProviderData[pk]); s != nil {
				in.config[ck] = s
			}
		}
	}
	if b.ProviderData != nil || b.Configuration != nil {
		in.valid = ceValid(in.config, b.ProviderData)
	}
	in.updates++
	e.stats.Updates++
	writeJSON(w, http.StatusOK, e.ceJSON(in))
}

// ceList serves GET /instances: tags[] (repeatable, all must match),
// searchText (name contains, case-insensitive), pageSize (default and max 200),
// nextPage. A filtered list that matches nothing answers 404, as the platform does.
func (e *Emulator) ceList(w http.ResponseWriter, r *http.Request) {
	if !e.ceAuthorized(w, r) {
		return
	}
	q := r.URL.Query()
	tags := append(q["tags[]"], q["tags"]...)
	search := strings.ToLower(q.Get("searchText"))
	element := r.PathValue("key")
	if element != "" {
		if _, ok := ceElements[element]; !ok {
			e.ceError(w, http.StatusNotFound, fmt.Sprintf("No element found with key '%s'", element))
			return
		}
	}
	size := ceDefaultPageSize
	if s := q.Get("pageSize"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			e.ceError(w, http.StatusBadRequest, fmt.Sprintf("Invalid pageSize %q: expected a positive integer", s))
			return
		}
		if n > ceMaxPageSize {
			w.Header().Set("Elements-Error", fmt.Sprintf("pageSize %d exceeds the maximum of %d; %d used", n, ceMaxPageSize, ceMaxPageSize))
			n = ceMaxPageSize
		}
		size = n
	}
	after, offset, ok := e.cePageToken(q.Get("nextPage"))
	if !ok {
		e.ceError(w, http.StatusBadRequest, "Invalid nextPage token")
		return
	}
	e.mu.Lock()
	now := e.now()
	matches := func(in *ceInstance) bool {
		return e.listed(now, in.created, in.deleted) &&
			(element == "" || in.element == element) && (search == "" || strings.Contains(strings.ToLower(in.name), search)) && hasAll(in.tags, tags)
	}
	total := 0
	var page []*ceInstance
	more := false
	for _, in := range e.ceListing(now) {
		if !matches(in) {
			continue
		}
		total++
		if in.id <= after || total <= offset {
			continue
		}
		if len(page) == size {
			more = true
			continue
		}
		page = append(page, in)
	}
	if more {
		next := "after:" + strconv.FormatInt(page[len(page)-1].id, 10)
		if e.opts.OffsetPages {
			next = "offset:" + strconv.Itoa(offset+len(page))
		}
		w.Header().Set("Elements-Next-Page-Token", base64.RawURLEncoding.EncodeToString([]byte(next)))
	}
	views := make([]ceInstanceJSON, len(page))
	for i, in := range page {
		views[i] = e.ceJSON(in)
	}
	e.mu.Unlock()
	if total == 0 && (len(tags) > 0 || search != "") {
		e.ceError(w, http.StatusNotFound, "No instances found matching the search criteria")
		return
	}
	w.Header().Set("Elements-Total-Count", strconv.Itoa(total))
	writeJSON(w, http.StatusOK, views)
}

// cePageToken reads a nextPage token: after the id it names (a cursor), or,
// with OffsetPages, past as many instances of the listing as it stands now.
// An empty token starts at the beginning.
func (e *Emulator) cePageToken(tok string) (after int64, offset int, ok bool) {
	if tok == "" {
		return 0, 0, true
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, 0, false
	}
	if s, found := strings.CutPrefix(string(b), "offset:"); found && e.opts.OffsetPages {
		offset, err = strconv.Atoi(s)
		return 0, offset, err == nil && offset >= 0
	}
	s, found := strings.CutPrefix(string(b), "after:")
	if !found {
		return 0, 0, false
	}
	after, err = strconv.ParseInt(s, 10, 64)
	return after, 0, err == nil
}

func hasAll(have, want []string) bool {
	for _, t := range want {
		found := false
		for _, h := range have {
			if h == t {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// ceOAuthURL serves GET /elements/{key}/oauth/url. Its oauthUrl has
// HubSpot's path and query, on the emulator's own consent page (HubSpotPrefix).
func (e *Emulator) ceOAuthURL(w http.ResponseWriter, r *http.Request) {
	if !e.ceAuthorized(w, r) {
		return
	}
	key := r.PathValue("key")
	if _, ok := ceElements[key]; !ok {
		e.ceError(w, http.StatusNotFound, fmt.Sprintf("No element found with key '%s'", key))
		return
	}
	q := r.URL.Query()
	var missing []string
	for _, p := range []string{"apiKey", "apiSecret", "callbackUrl"} {
		if q.Get(p) == "" {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		e.ceError(w, http.StatusBadRequest, "Missing required query parameters: "+strings.Join(missing, ", "))
		return
	}
	scope, ok := q["scope"]
	var sc string
	switch {
	case !ok && key == "hubspotcrm":
		sc = "contacts timeline files"
	case !ok || scope[0] == "":
		sc = "contacts timeline files content reports social automation forms"
	default:
		sc = scope[0]
	}
	state := q.Get("state")
	if state == "" {
		state = key
	}
	writeJSON(w, http.StatusOK, map[string]string{
		"element":  key,
		"oauthUrl": consentURL(r, q.Get("apiKey"), q.Get("callbackUrl"), sc, state),
	})
}

// ceInstanceJSON is an instance as the platform shows it (seed documents).
type ceInstanceJSON struct {
	ID                     int64              `json:"id"`
	Name                   string             `json:"name"`
	CreatedDate            string             `json:"createdDate"`
	Token                  string             `json:"token"`
	Element                ceElementJSON      `json:"element"`
	ElementID              int                `json:"elementId"`
	Tags                   any                `json:"tags"` // []string, or objects with TagObjects
	ProvisionInteractions  []any              `json:"provisionInteractions"`
	Valid                  bool               `json:"valid"`
	Disabled               bool               `json:"disabled"`
	MaxCacheSize           int                `json:"maxCacheSize"`
	CacheTimeToLive        int                `json:"cacheTimeToLive"`
	Configuration          map[string]*string `json:"configuration"`
	EventsEnabled          bool               `json:"eventsEnabled"`
	TraceLoggingEnabled    bool               `json:"traceLoggingEnabled"`
	CachingEnabled         bool               `json:"cachingEnabled"`
	ExternalAuthentication string             `json:"externalAuthentication"`
	User                   struct {
		ID int `json:"id"`
	} `json:"user"`
}

type ceElementJSON struct {
	ID             int    `json:"id"`
	Name           string `json:"name"`
	HookName       string `json:"hookName"`
	Key            string `json:"key"`
	Description    string `json:"description"`
	Image          string `json:"image"`
	Active         bool   `json:"active"`
	Deleted        bool   `json:"deleted"`
	TypeOauth      bool   `json:"typeOauth"`
	TrialAccount   bool   `json:"trialAccount"`
	Authentication struct {
		Type string `json:"type"`
	} `json:"authentication"`
	Hub          string `json:"hub"`
	ProtocolType string `json:"protocolType"`
	Parameters   []any  `json:"parameters"`
	Private      bool   `json:"private"`
}

// ceJSON renders in with secrets masked. The caller holds e.mu.
func (e *Emulator) ceJSON(in *ceInstance) ceInstanceJSON {
	el := ceElements[in.element]
	v := ceInstanceJSON{
		ID: in.id, Name: in.name, CreatedDate: in.created.Format(time.RFC3339), Token: in.token,
		Element: ceElementJSON{
			ID: el.ID, Name: el.Name, HookName: el.HookName, Key: el.Key, Description: el.Desc,
			Image: "elements/provider_hubspot.png", Active: true, TypeOauth: true,
			Hub: el.Hub, ProtocolType: "http", Parameters: []any{},
		},
		ElementID:              el.ID,
		Tags:                   append([]string{}, in.tags...),
		ProvisionInteractions:  []any{},
		Valid:                  in.valid,
		Disabled:               in.disabled,
		Configuration:          make(map[string]*string, len(in.config)),
		ExternalAuthentication: "none",
	}
	v.Element.Authentication.Type = "oauth2"
	v.User.ID = 3306
	if e.opts.TagObjects {
		objs := make([]map[string]any, len(in.tags))
		for i, t := range in.tags {
			objs[i] = map[string]any{"id": 1000 + i, "name": t}
		}
		v.Tags = objs
	}
	for k, val := range in.config {
		if val != nil && isSecretKey(k) {
			m := masked
			val = &m
		}
		v.Configuration[k] = val
	}
	return v
}

func copyTags(tags *[]string) []string {
	out := []string{}
	if tags != nil {
		out = append(out, *tags...)
	}
	return out
}

// randomToken returns a base64 token of n random bytes, like instance tokens.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// ceListing returns what a list at now walks, by id: the live instances and,
// under ListLag, those deleted too recently for the list to know. Called with
// e.mu held.
func (e *Emulator) ceListing(now time.Time) []*ceInstance {
	if len(e.ceGone) == 0 {
		return e.ceOrder
	}
	kept := e.ceGone[:0]
	for _, in := range e.ceGone {
		if e.listed(now, in.created, in.deleted) {
			kept = append(kept, in)
		}
	}
	e.ceGone = kept
	all := append(append([]*ceInstance{}, e.ceOrder...), kept...)
	slices.SortFunc(all, func(a, b *ceInstance) int { return cmp.Compare(a.id, b.id) })
	return all
}
