package cloudelements

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/hubprov/hubprov/manifest"
	"github.com/hubprov/hubprov/provision"
)

// masked is how the platform shows a stored secret.
const masked = "********"

// flexID is an instance id: a JSON number on the wire, a string in hubprov.
type flexID string

func (f *flexID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*f = ""
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexID(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*f = flexID(n.String())
	return nil
}

// rawInstance is the part of an instance object hubprov reads.
type rawInstance struct {
	ID      flexID `json:"id"`
	Name    string `json:"name"`
	Token   string `json:"token"`
	Element struct {
		Key string `json:"key"`
	} `json:"element"`
	Tags          []string       `json:"tags"`
	Configuration map[string]any `json:"configuration"`
	Valid         bool           `json:"valid"`
	Disabled      bool           `json:"disabled"`
}

// instance converts the wire form: markers split off the tags, masked, null,
// non-string and secret configuration values dropped.
func (r rawInstance) instance() provision.Instance {
	in := provision.Instance{
		ID:      string(r.ID),
		Name:    r.Name,
		Element: r.Element.Key,
		Valid:   r.Valid,
		Enabled: !r.Disabled,
	}
	if r.Token != "" {
		in.Token = manifest.LiteralSecret(r.Token)
	}
	for _, t := range r.Tags {
		switch {
		case strings.HasPrefix(t, setPrefix):
			in.Set = strings.TrimPrefix(t, setPrefix)
		case strings.HasPrefix(t, specPrefix):
			in.Fingerprint = strings.TrimPrefix(t, specPrefix)
		default:
			in.Tags = append(in.Tags, t)
		}
	}
	for k, v := range r.Configuration {
		s, ok := v.(string)
		if !ok || s == masked || secretKeys[k] {
			continue
		}
		if in.Configuration == nil {
			in.Configuration = map[string]string{}
		}
		in.Configuration[k] = s
	}
	return in
}
