package emulator

import (
	"strconv"
	"time"
)

// Seed is a Cloud Elements / Open Connectors instance to pre-populate.
type Seed struct {
	Name    string
	Element string // hubspot or hubspotcrm; default hubspotcrm
	Tags    []string
	// Configuration is stored as given, on top of the defaults a created
	// instance shows; secrets among it are masked in responses.
	Configuration map[string]string
	Invalid       bool // the instance reports valid: false
	Disabled      bool
}

// FlowSeed is a Flow Service connection to pre-populate.
type FlowSeed struct {
	Name        string
	Description string
	AuthParams  map[string]string
	Disabled    bool   // state "disabled" instead of "enabled"
	Sandbox     string // default "prod"
}

// InstanceView is an instance or connection as stored, secrets unmasked, for
// tests to read back what they sent.
type InstanceView struct {
	ID       string
	Platform string // "cloud-elements" (also Open Connectors) or "adobe-flow"
	Name     string
	// Cloud Elements / Open Connectors.
	Element           string
	Tags              []string
	Configuration     map[string]string // stored configuration, JSON nulls left out
	LastConfiguration map[string]any    // the configuration object of the last create, PATCH or PUT
	ProviderData      map[string]any    // the providerData last received
	Token             string
	Valid             bool // Flow Service: state is enabled
	Disabled          bool
	// Flow Service.
	Description string
	AuthParams  map[string]string
	State       string
	ETag        string // quoted
	// Updates counts the PATCH and PUT requests applied.
	Updates int
	Created time.Time
}

// AddInstance stores a Cloud Elements / Open Connectors instance without
// counting a create, and returns its id.
func (e *Emulator) AddInstance(s Seed) string {
	el := s.Element
	if _, ok := ceElements[el]; !ok {
		el = "hubspotcrm"
	}
	cfg := make(map[string]any, len(s.Configuration))
	for k, v := range s.Configuration {
		cfg[k] = v
	}
	authType := "oauth2"
	if s.Configuration["authentication.type"] == "apiKey" {
		authType = "apiKey"
	}
	now := time.Now().UTC()
	in := &ceInstance{
		name: s.Name, element: el, tags: append([]string{}, s.Tags...),
		config: ceConfig(authType, cfg, nil, now), lastConfig: cfg,
		valid: !s.Invalid, disabled: s.Disabled, token: randomToken(30), created: now,
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ceSeq++
	in.id = e.ceSeq
	e.ce[in.id] = in
	return strconv.FormatInt(in.id, 10)
}

// AddConnection stores a Flow Service connection without counting a create,
// and returns its id.
func (e *Emulator) AddConnection(s FlowSeed) string {
	params := make(map[string]string, len(s.AuthParams))
	for k, v := range s.AuthParams {
		params[k] = v
	}
	sb := s.Sandbox
	if sb == "" {
		sb = "prod"
	}
	state := "enabled"
	if s.Disabled {
		state = "disabled"
	}
	now := time.Now().UTC()
	c := &flowConn{
		id: newUUID(), name: s.Name, description: s.Description, specName: "Basic Authentication",
		params: params, specVersion: "1.0", state: state, sandbox: sb, created: now, updatedAt: now,
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fSeq++
	c.seq = e.fSeq
	c.etag = newETag(e.fSeq)
	e.flow[c.id] = c
	return c.id
}

// SetValid marks an instance valid or not, or a Flow Service connection
// enabled or disabled. It does nothing for an unknown id.
func (e *Emulator) SetValid(id string, valid bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if n, err := strconv.ParseInt(id, 10, 64); err == nil {
		if in := e.ce[n]; in != nil {
			in.valid = valid
		}
		return
	}
	if c := e.flow[id]; c != nil {
		c.state = "disabled"
		if valid {
			c.state = "enabled"
		}
	}
}

// Instance returns the stored instance or connection with id.
func (e *Emulator) Instance(id string) (InstanceView, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if n, err := strconv.ParseInt(id, 10, 64); err == nil {
		in := e.ce[n]
		if in == nil {
			return InstanceView{}, false
		}
		v := InstanceView{
			ID: id, Platform: "cloud-elements", Name: in.name, Element: in.element,
			Tags: append([]string{}, in.tags...), Configuration: map[string]string{},
			LastConfiguration: in.lastConfig, ProviderData: in.providerData, Token: in.token,
			Valid: in.valid, Disabled: in.disabled, Updates: in.updates, Created: in.created,
		}
		for k, val := range in.config {
			if val != nil {
				v.Configuration[k] = *val
			}
		}
		return v, true
	}
	c := e.flow[id]
	if c == nil {
		return InstanceView{}, false
	}
	v := InstanceView{
		ID: id, Platform: "adobe-flow", Name: c.name, Description: c.description,
		AuthParams: make(map[string]string, len(c.params)), State: c.state, ETag: c.etag,
		Valid: c.state == "enabled", Disabled: c.state != "enabled", Updates: c.updates, Created: c.created,
	}
	for k, val := range c.params {
		v.AuthParams[k] = val
	}
	return v, true
}

// Instances returns the ids of every live instance and connection.
func (e *Emulator) Instances() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	ids := make([]string, 0, len(e.ce)+len(e.flow))
	for id := range e.ce {
		ids = append(ids, strconv.FormatInt(id, 10))
	}
	for id := range e.flow {
		ids = append(ids, id)
	}
	return ids
}
