// Package cloudelements is the client of the Cloud Elements elements/api-v2
// API, which SAP Open Connectors serves unchanged under regional base URLs. It
// turns a desired account into an element instance of the HubSpot elements
// (hubspot, hubspotcrm) and reads instances back, marked with hubprov's tags.
package cloudelements

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hubprov/hubprov/manifest"
	"github.com/hubprov/hubprov/provision"
	"github.com/hubprov/hubprov/provision/internal/httpapi"
)

// DefaultBaseURL is the Cloud Elements production API. Open Connectors has no
// default: its base URL is regional.
const DefaultBaseURL = "https://api.cloud-elements.com/elements/api-v2"

// pageSize is the largest page the list API serves.
const pageSize = 200

// Client calls one Cloud Elements or Open Connectors tenant. It is safe for
// concurrent use. Every method makes exactly one attempt per request.
type Client struct {
	base     string
	hc       *http.Client
	creds    manifest.Credentials
	platform manifest.Platform
	now      func() time.Time
	api      *httpapi.Client
}

var _ provision.Platform = (*Client)(nil)

// New returns a client of the API at baseURL (DefaultBaseURL when empty),
// authenticating with creds.User and creds.Organization. platform is
// cloud-elements or open-connectors; it names the platform in errors. A nil hc
// means a client that does not follow redirects.
func New(baseURL string, hc *http.Client, creds manifest.Credentials, platform manifest.Platform) *Client {
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
	if hc == nil {
		hc = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if platform == "" {
		platform = manifest.CloudElements
	}
	c := &Client{base: strings.TrimRight(baseURL, "/"), hc: hc, creds: creds, platform: platform, now: time.Now}
	c.api = &httpapi.Client{HC: hc, Platform: string(platform), Now: func() time.Time { return c.now() }, DecodeError: parseError}
	return c
}

// Name returns the platform the client was made for.
func (c *Client) Name() manifest.Platform { return c.platform }

// ListPage returns one page of GET /instances: the instances tagged with the
// set marker of q.Set (and, for a lookup, named exactly q.Name: the API's
// searchText matches substrings, so the name is compared here), the
// Elements-Next-Page-Token of the next page and the Elements-Total-Count. A
// 404 is an empty last page: the API answers 404 when nothing matches.
func (c *Client) ListPage(ctx context.Context, q provision.Query, token string) (provision.Page, error) {
	v := url.Values{}
	v.Set("tags[]", setMarker(q.Set))
	op := "list"
	if q.Name != "" {
		v.Set("searchText", q.Name)
		op = "lookup"
	} else {
		v.Set("pageSize", strconv.Itoa(pageSize))
	}
	if token != "" {
		v.Set("nextPage", token)
	}
	var raws []rawInstance
	hdr, err := c.do(ctx, op, http.MethodGet, "/instances?"+v.Encode(), nil, nil, &raws)
	if err != nil {
		var ae *provision.APIError
		if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
			return provision.Page{Total: -1}, nil
		}
		return provision.Page{}, err
	}
	page := provision.Page{Next: hdr.Get("Elements-Next-Page-Token"), Scanned: len(raws), Total: -1}
	if n, err := strconv.Atoi(hdr.Get("Elements-Total-Count")); err == nil && n >= 0 {
		page.Total = n
	}
	for _, r := range raws {
		in := r.instance()
		if in.Set == q.Set && (q.Name == "" || in.Name == q.Name) {
			page.Instances = append(page.Instances, in)
		}
	}
	return page, nil
}

// Get reads the instance with the given id.
func (c *Client) Get(ctx context.Context, id string) (provision.Instance, error) {
	var r rawInstance
	if _, err := c.do(ctx, "get", http.MethodGet, "/instances/"+url.PathEscape(id), nil, nil, &r); err != nil {
		return provision.Instance{}, err
	}
	return r.instance(), nil
}

// Create posts the instance d describes, with the body the platform documents
// for its auth type. Not safe to retry blindly: a failure without a response
// may have created the instance.
func (c *Client) Create(ctx context.Context, d provision.Desired) (provision.Instance, error) {
	body := createBody(d)
	var r rawInstance
	if _, err := c.do(ctx, "create", http.MethodPost, "/instances", body, accountSecrets(d.Account), &r); err != nil {
		return provision.Instance{}, err
	}
	return r.instance(), nil
}

// Update patches cur to match d: the whole tag set (PATCH replaces it) and
// what d.Send names; credentials only when the secret half changed, the
// authorization code only when it changed (see updateBody).
func (c *Client) Update(ctx context.Context, cur provision.Instance, d provision.Desired) (provision.Instance, error) {
	body := updateBody(d)
	secrets := append(accountSecrets(d.Account), cur.Token.Reveal())
	var r rawInstance
	if _, err := c.do(ctx, "update", http.MethodPatch, "/instances/"+url.PathEscape(cur.ID), body, secrets, &r); err != nil {
		return provision.Instance{}, err
	}
	if r.ID == "" { // an empty 200: report what was sent
		out := cur
		out.Name = d.Account.Name
		out.Tags = append([]string(nil), d.Account.Tags...)
		out.Set, out.Fingerprint = d.Set, d.Fingerprint
		return out, nil
	}
	return r.instance(), nil
}

// Delete removes the instance. A 404 comes back as an *APIError with Status 404.
func (c *Client) Delete(ctx context.Context, cur provision.Instance) error {
	_, err := c.do(ctx, "delete", http.MethodDelete, "/instances/"+url.PathEscape(cur.ID), nil, []string{cur.Token.Reveal()}, nil)
	return err
}

// OAuthURL asks the platform for the HubSpot consent URL of an oauth2 account
// (GET /elements/{key}/oauth/url). The API takes the client secret in the
// query, so errors never carry the request URL. scopes are sent space-separated;
// none means the element's defaults.
func (c *Client) OAuthURL(ctx context.Context, element, clientID string, clientSecret manifest.Secret, callbackURL string, scopes []string, state string) (string, error) {
	params := [][2]string{{"apiKey", clientID}, {"apiSecret", clientSecret.Reveal()}, {"callbackUrl", callbackURL}}
	if len(scopes) > 0 {
		params = append(params, [2]string{"scope", strings.Join(scopes, " ")})
	}
	if state != "" {
		params = append(params, [2]string{"state", state})
	}
	var parts []string
	for _, p := range params {
		// %20 for spaces, as the platform's own examples send the scope list.
		parts = append(parts, p[0]+"="+strings.ReplaceAll(url.QueryEscape(p[1]), "+", "%20"))
	}
	path := "/elements/" + url.PathEscape(element) + "/oauth/url?" + strings.Join(parts, "&")
	var out struct {
		Element  string `json:"element"`
		OAuthURL string `json:"oauthUrl"`
	}
	if _, err := c.do(ctx, "oauth-url", http.MethodGet, path, nil, []string{clientSecret.Reveal()}, &out); err != nil {
		return "", err
	}
	if out.OAuthURL == "" {
		return "", &provision.APIError{Platform: string(c.platform), Op: "oauth-url", Status: http.StatusOK, Message: "response has no oauthUrl"}
	}
	return out.OAuthURL, nil
}

// do sends one request and decodes a 2xx JSON answer into out (when out is not
// nil and the body is not empty), through the plumbing both clients share:
// the answer is read within its cap, and any other outcome is an *APIError
// whose text is scrubbed of the credentials and of secrets.
func (c *Client) do(ctx context.Context, op, method, pathQuery string, body any, secrets []string, out any) (http.Header, error) {
	h := http.Header{}
	h.Set("Authorization", "User "+c.creds.User.Reveal()+", Organization "+c.creds.Organization.Reveal())
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "application/json")
	return c.api.Do(ctx, httpapi.Request{
		Op: op, Method: method, URL: c.base + pathQuery, Header: h, Body: body, Out: out,
		Secrets: append(secrets, c.creds.User.Reveal(), c.creds.Organization.Reveal()),
	})
}

// parseError reads the platform's error body {requestId, message,
// providerMessage}; anything else is shown as text.
func parseError(raw []byte, resp *http.Response) (requestID, message string) {
	var e struct {
		RequestID       string `json:"requestId"`
		Message         string `json:"message"`
		ProviderMessage string `json:"providerMessage"`
	}
	if json.Unmarshal(raw, &e) == nil && (e.Message != "" || e.RequestID != "") {
		requestID, message = e.RequestID, e.Message
		if e.ProviderMessage != "" {
			message += " (provider: " + e.ProviderMessage + ")"
		}
	} else {
		message = strings.TrimSpace(string(raw))
	}
	if requestID == "" {
		requestID = resp.Header.Get("X-Request-Id")
	}
	if message == "" {
		message = http.StatusText(resp.StatusCode)
	}
	return requestID, message
}
