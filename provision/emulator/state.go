package emulator

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
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
	Disabled    bool      // state "disabled" instead of "enabled"
	Sandbox     string    // default "prod"
	Created     time.Time // default now
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
	now := e.now().UTC()
	in := &ceInstance{
		name: s.Name, element: el, tags: append([]string{}, s.Tags...),
		config: ceConfig(authType, cfg, nil, now), lastConfig: cfg,
		valid: !s.Invalid, disabled: s.Disabled, token: randomToken(30), created: now,
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ceSeq++
	in.id = e.ceSeq
	e.ceAdd(in)
	return strconv.FormatInt(in.id, 10)
}

// ceAdd stores a new instance. Called with e.mu held.
func (e *Emulator) ceAdd(in *ceInstance) {
	e.ce[in.id] = in
	e.ceOrder = append(e.ceOrder, in) // ids only grow
	e.ceNames[in.name] = append(e.ceNames[in.name], in)
}

// ceRemove deletes an instance. Called with e.mu held.
func (e *Emulator) ceRemove(in *ceInstance) {
	if e.opts.ListLag > 0 {
		in.deleted = e.now()
		e.ceGone = append(e.ceGone, in)
	}
	delete(e.ce, in.id)
	e.ceUnname(in)
	if i, ok := slices.BinarySearchFunc(e.ceOrder, in.id, func(o *ceInstance, id int64) int { return cmp.Compare(o.id, id) }); ok {
		e.ceOrder = slices.Delete(e.ceOrder, i, i+1)
	}
}

// ceRename changes an instance's name. Called with e.mu held.
func (e *Emulator) ceRename(in *ceInstance, name string) {
	e.ceUnname(in)
	in.name = name
	e.ceNames[name] = append(e.ceNames[name], in)
}

func (e *Emulator) ceUnname(in *ceInstance) {
	same := e.ceNames[in.name]
	for i, o := range same {
		if o == in {
			same = append(same[:i], same[i+1:]...)
			break
		}
	}
	if len(same) == 0 {
		delete(e.ceNames, in.name)
	} else {
		e.ceNames[in.name] = same
	}
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
	now := e.now().UTC()
	if !s.Created.IsZero() {
		now = s.Created.UTC()
	}
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

// snapshot is the saved state of an emulator: its instances and connections,
// secrets included. Counters are not saved.
type snapshot struct {
	Version     int         `json:"version"`
	CESeq       int64       `json:"ceSeq"`
	FlowSeq     int64       `json:"flowSeq"`
	Instances   []savedCE   `json:"instances"`
	Connections []savedFlow `json:"connections"`
	// UsedCodes maps the authorization codes exchanged (by codeKey: their
	// SHA-256, so the state file holds no code) to the instance each
	// authorized: a code stays used after a restart.
	UsedCodes map[string]int64 `json:"usedCodes,omitempty"`
}

type savedCE struct {
	ID           int64              `json:"id"`
	Name         string             `json:"name"`
	Element      string             `json:"element"`
	Tags         []string           `json:"tags"`
	Config       map[string]*string `json:"configuration"`
	LastConfig   map[string]any     `json:"lastConfiguration,omitempty"`
	ProviderData map[string]any     `json:"providerData,omitempty"`
	Valid        bool               `json:"valid"`
	Disabled     bool               `json:"disabled"`
	Token        string             `json:"token"`
	Created      time.Time          `json:"created"`
	Updates      int                `json:"updates"`
}

type savedFlow struct {
	ID          string            `json:"id"`
	Seq         int64             `json:"seq"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	SpecName    string            `json:"specName"`
	SpecVersion string            `json:"specVersion"`
	Params      map[string]string `json:"params"`
	State       string            `json:"state"`
	ETag        string            `json:"etag"`
	Sandbox     string            `json:"sandbox"`
	Created     time.Time         `json:"created"`
	UpdatedAt   time.Time         `json:"updatedAt"`
	Updates     int               `json:"updates"`
}

// Snapshot writes the emulator's instances and connections, secrets included,
// as JSON, for Restore to read back. Counters are not included.
func (e *Emulator) Snapshot(w io.Writer) error {
	e.mu.Lock()
	s := snapshot{Version: 1, CESeq: e.ceSeq, FlowSeq: e.fSeq, Instances: []savedCE{}, Connections: []savedFlow{}, UsedCodes: e.codes}
	for _, in := range e.ce {
		s.Instances = append(s.Instances, savedCE{
			ID: in.id, Name: in.name, Element: in.element, Tags: in.tags, Config: in.config, LastConfig: in.lastConfig,
			ProviderData: withoutCode(in.providerData), Valid: in.valid, Disabled: in.disabled, Token: in.token, Created: in.created, Updates: in.updates,
		})
	}
	for _, c := range e.flow {
		s.Connections = append(s.Connections, savedFlow{
			ID: c.id, Seq: c.seq, Name: c.name, Description: c.description, SpecName: c.specName, SpecVersion: c.specVersion,
			Params: c.params, State: c.state, ETag: c.etag, Sandbox: c.sandbox, Created: c.created, UpdatedAt: c.updatedAt, Updates: c.updates,
		})
	}
	b, err := json.MarshalIndent(s, "", " ")
	e.mu.Unlock()
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// Restore replaces the emulator's instances and connections with those a
// Snapshot wrote. Counters are left alone.
func (e *Emulator) Restore(r io.Reader) error {
	var s snapshot
	if err := json.NewDecoder(r).Decode(&s); err != nil {
		return fmt.Errorf("restore emulator state: %w", err)
	}
	if s.Version != 1 {
		return fmt.Errorf("restore emulator state: unknown version %d", s.Version)
	}
	ce := make(map[int64]*ceInstance, len(s.Instances))
	seq := max(s.CESeq, 58771)
	for _, in := range s.Instances {
		if _, ok := ceElements[in.Element]; !ok || in.ID <= 0 {
			return fmt.Errorf("restore emulator state: instance %d: bad id or element %q", in.ID, in.Element)
		}
		if in.Config == nil {
			in.Config = map[string]*string{}
		}
		ce[in.ID] = &ceInstance{
			id: in.ID, name: in.Name, element: in.Element, tags: append([]string{}, in.Tags...), config: in.Config,
			lastConfig: in.LastConfig, providerData: in.ProviderData, valid: in.Valid, disabled: in.Disabled,
			token: in.Token, created: in.Created, updates: in.Updates,
		}
		seq = max(seq, in.ID)
	}
	flow := make(map[string]*flowConn, len(s.Connections))
	fseq := s.FlowSeq
	for _, c := range s.Connections {
		if c.ID == "" {
			return fmt.Errorf("restore emulator state: connection without id")
		}
		if c.Params == nil {
			c.Params = map[string]string{}
		}
		flow[c.ID] = &flowConn{
			id: c.ID, seq: c.Seq, name: c.Name, description: c.Description, specName: c.SpecName, specVersion: c.SpecVersion,
			params: c.Params, state: c.State, etag: c.ETag, sandbox: c.Sandbox, created: c.Created, updatedAt: c.UpdatedAt, updates: c.Updates,
		}
		fseq = max(fseq, c.Seq)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ce, e.ceSeq, e.flow, e.fSeq = ce, seq, flow, fseq
	e.codes = s.UsedCodes
	if e.codes == nil {
		e.codes = map[string]int64{}
	}
	e.ceNames = make(map[string][]*ceInstance, len(ce))
	e.ceOrder = make([]*ceInstance, 0, len(ce))
	for _, in := range ce {
		e.ceNames[in.name] = append(e.ceNames[in.name], in)
		e.ceOrder = append(e.ceOrder, in)
	}
	slices.SortFunc(e.ceOrder, func(a, b *ceInstance) int { return cmp.Compare(a.id, b.id) })
	return nil
}

// codeKey is how a used authorization code is remembered: its SHA-256, so
// the state file holds no code.
func codeKey(code string) string {
	h := sha256.Sum256([]byte(code))
	return "sha256:" + hex.EncodeToString(h[:])
}

// withoutCode is providerData as the state file keeps it: a code is
// exchanged once and then worthless, and it is a secret while it lives.
func withoutCode(pd map[string]any) map[string]any {
	if _, ok := pd["code"]; !ok {
		return pd
	}
	out := make(map[string]any, len(pd))
	for k, v := range pd {
		if k != "code" {
			out[k] = v
		}
	}
	return out
}
