package cloudelements

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

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

// flexTags is an instance's tags: strings, or objects naming the tag
// ({"id": 12, "name": "t"}, as the platform's own create example answers).
// null reads as no tags.
type flexTags []string

func (f *flexTags) UnmarshalJSON(b []byte) error {
	var raws []json.RawMessage
	if err := json.Unmarshal(b, &raws); err != nil {
		return fmt.Errorf("tags: %w", err)
	}
	out := make(flexTags, 0, len(raws))
	for _, r := range raws {
		r = bytes.TrimSpace(r)
		if len(r) > 0 && r[0] == '{' {
			var o struct {
				Name  *string `json:"name"`
				Tag   *string `json:"tag"`
				Value *string `json:"value"`
			}
			if err := json.Unmarshal(r, &o); err != nil {
				return fmt.Errorf("tags: %w", err)
			}
			switch {
			case o.Name != nil:
				out = append(out, *o.Name)
			case o.Tag != nil:
				out = append(out, *o.Tag)
			case o.Value != nil:
				out = append(out, *o.Value)
			default:
				return fmt.Errorf("tags: an object without a name: %s", r)
			}
			continue
		}
		var t string
		if err := json.Unmarshal(r, &t); err != nil {
			return fmt.Errorf("tags: %w", err)
		}
		out = append(out, t)
	}
	*f = out
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
	Tags          flexTags       `json:"tags"`
	Configuration map[string]any `json:"configuration"`
	Valid         *bool          `json:"valid"`
	Disabled      *bool          `json:"disabled"`
	CreatedDate   any            `json:"createdDate"`
}

// instance converts the wire form: markers split off the tags, masked, null,
// non-string and secret configuration values dropped.
func (r rawInstance) instance() provision.Instance {
	in := provision.Instance{
		ID:      string(r.ID),
		Name:    r.Name,
		Element: r.Element.Key,
		// An answer that leaves out valid or disabled does not say.
		Valid:   r.Valid != nil && *r.Valid,
		Enabled: r.Disabled == nil || !*r.Disabled,
		Health:  r.Valid != nil && r.Disabled != nil,
		Created: createdDate(r.CreatedDate),
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

// createdDate reads createdDate: RFC 3339 text (the seeds), or epoch
// milliseconds as some tenants answer; anything else is unknown (zero).
func createdDate(v any) time.Time {
	switch x := v.(type) {
	case string:
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return t.UTC()
		}
	case float64:
		return time.UnixMilli(int64(x)).UTC()
	}
	return time.Time{}
}
