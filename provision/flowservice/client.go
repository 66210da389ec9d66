// Package flowservice is the client of the Adobe Experience Platform Flow
// Service API. One HubSpot account becomes one base connection of the HubSpot
// connection spec, marked in its description with hubprov's set and spec.
package flowservice

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hubprov/hubprov/manifest"
	"github.com/hubprov/hubprov/provision"
	"github.com/hubprov/hubprov/provision/internal/httpapi"
)

// DefaultBaseURL is the Flow Service production API.
const DefaultBaseURL = "https://platform.adobe.io/data/foundation/flowservice"

// The HubSpot connection spec and its auth spec.
const (
	SpecID      = "cc6a4487-9e91-433e-a3a3-9cf6626c1806"
	specVersion = "1.0"
	authSpec    = "Basic Authentication"
)

// listLimit is the page size asked of GET /connections.
const listLimit = 1000

// Client calls the Flow Service API of one IMS organization and sandbox. It is
// safe for concurrent use. Every method makes exactly one attempt per request.
type Client struct {
	base  string
	hc    *http.Client
	creds manifest.Credentials
	now   func() time.Time
	api   *httpapi.Client
}

var _ provision.Platform = (*Client)(nil)

// New returns a client of the API at baseURL (DefaultBaseURL when empty),
// authenticating with creds.AccessToken, APIKey, IMSOrg and Sandbox. A nil hc
// means a client that does not follow redirects.
func New(baseURL string, hc *http.Client, creds manifest.Credentials) *Client {
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
	if hc == nil {
		hc = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	c := &Client{base: strings.TrimRight(baseURL, "/"), hc: hc, creds: creds, now: time.Now}
	c.api = &httpapi.Client{HC: hc, Platform: string(manifest.AdobeFlow), Now: func() time.Time { return c.now() }, DecodeError: parseError}
	return c
}

// Name returns adobe-flow.
func (c *Client) Name() manifest.Platform { return manifest.AdobeFlow }

// ListPage returns one page of GET /connections: the HubSpot connections
// whose description carries the marker of q.Set (and, for a lookup, named
// exactly q.Name), and the continuation token of the next page. The API
// announces no total.
func (c *Client) ListPage(ctx context.Context, q provision.Query, token string) (provision.Page, error) {
	p := [][2]string{{"property", "connectionSpec.id==" + SpecID}}
	op := "list"
	if q.Name != "" {
		p = append(p, [2]string{"property", "name==" + q.Name})
		op = "lookup"
	} else {
		p = append(p, [2]string{"limit", strconv.Itoa(listLimit)})
	}
	if token != "" {
		p = append(p, [2]string{"continuationToken", token})
	}
	var resp listResponse
	if err := c.do(ctx, op, http.MethodGet, "/connections?"+encodeQuery(p), "", nil, nil, &resp); err != nil {
		return provision.Page{}, err
	}
	page := provision.Page{Next: resp.next(), Scanned: len(resp.Items), Total: -1}
	for _, it := range resp.Items {
		if in := it.instance(); in.Set == q.Set && (q.Name == "" || in.Name == q.Name) {
			page.Instances = append(page.Instances, in)
		}
	}
	return page, nil
}

// Get reads the connection with the given id. The API wraps it in items.
func (c *Client) Get(ctx context.Context, id string) (provision.Instance, error) {
	var page listResponse
	if err := c.do(ctx, "get", http.MethodGet, "/connections/"+url.PathEscape(id), "", nil, nil, &page); err != nil {
		return provision.Instance{}, err
	}
	if len(page.Items) == 0 {
		return provision.Instance{}, &provision.APIError{Platform: string(manifest.AdobeFlow), Op: "get", Status: http.StatusNotFound,
			Message: "connection " + id + " not in the response"}
	}
	return page.Items[0].instance(), nil
}

// Create posts the base connection d describes, with the body of the HubSpot
// source tutorial. Not safe to retry blindly: a failure without a response may
// have created the connection.
func (c *Client) Create(ctx context.Context, d provision.Desired) (provision.Instance, error) {
	a := d.Account
	body := createBody{
		Name:        a.Name,
		Description: describe(a.Description, d.Set, d.Fingerprint),
		Auth:        authBody{SpecName: authSpec, Params: params(a.Auth)},
		Spec:        specRef{ID: SpecID, Version: specVersion},
	}
	var out versioned
	if err := c.do(ctx, "create", http.MethodPost, "/connections", "", body, accountSecrets(a), &out); err != nil {
		return provision.Instance{}, err
	}
	return provision.Instance{
		ID:          out.ID,
		Name:        a.Name,
		Description: a.Description,
		ETag:        out.ETag,
		// A new connection starts enabled; Get reads the state.
		Valid:       true,
		Enabled:     true,
		Set:         d.Set,
		Fingerprint: d.Fingerprint,
	}, nil
}

// Update patches the description (the user's and the new markers), the name
// when d.Send.Name, and the auth params only when d.Send.Credentials, with
// If-Match set to cur.ETag. A stale ETag comes back as an *APIError with
// Status 412; the caller re-reads with Get and retries.
func (c *Client) Update(ctx context.Context, cur provision.Instance, d provision.Desired) (provision.Instance, error) {
	ops := []patchOp{{Op: "replace", Path: "/description", Value: describe(d.Account.Description, d.Set, d.Fingerprint)}}
	if d.Send.Name {
		ops = append(ops, patchOp{Op: "replace", Path: "/name", Value: d.Account.Name})
	}
	if d.Send.Credentials {
		ops = append(ops, patchOp{Op: "replace", Path: "/auth/params", Value: params(d.Account.Auth)})
	}
	var out versioned
	if err := c.do(ctx, "update", http.MethodPatch, "/connections/"+url.PathEscape(cur.ID), cur.ETag, ops, accountSecrets(d.Account), &out); err != nil {
		return provision.Instance{}, err
	}
	next := cur
	next.Name = d.Account.Name
	next.Description = d.Account.Description
	next.Set, next.Fingerprint = d.Set, d.Fingerprint
	if out.ETag != "" {
		next.ETag = out.ETag
	}
	return next, nil
}

// Delete removes the connection. A 404 comes back as an *APIError with Status 404.
func (c *Client) Delete(ctx context.Context, cur provision.Instance) error {
	return c.do(ctx, "delete", http.MethodDelete, "/connections/"+url.PathEscape(cur.ID), "", nil, nil, nil)
}

// do sends one request and decodes a 2xx JSON answer into out (when out is not
// nil and the body is not empty), through the plumbing both clients share:
// the answer is read within its cap, and any other outcome is an *APIError
// whose text is scrubbed of the credentials and of secrets.
func (c *Client) do(ctx context.Context, op, method, pathQuery, ifMatch string, body any, secrets []string, out any) error {
	h := http.Header{}
	h.Set("Authorization", "Bearer "+c.creds.AccessToken.Reveal())
	h.Set("x-api-key", c.creds.APIKey.Reveal())
	h.Set("x-gw-ims-org-id", c.creds.IMSOrg)
	h.Set("x-sandbox-name", c.creds.Sandbox)
	h.Set("Accept", "application/json")
	if body != nil {
		h.Set("Content-Type", "application/json")
	}
	if ifMatch != "" {
		h.Set("If-Match", ifMatch)
	}
	_, err := c.api.Do(ctx, httpapi.Request{
		Op: op, Method: method, URL: c.base + pathQuery, Header: h, Body: body, Out: out,
		Secrets: append(secrets, c.creds.AccessToken.Reveal(), c.creds.APIKey.Reveal()),
	})
	return err
}

// parseError reads the three error bodies of the API: the gateway's
// {error_code, message}, Flow Service's {type, title, status, report,
// errorMessage} and the bare {errorMessage}; anything else is shown as text.
func parseError(raw []byte, resp *http.Response) (requestID, message string) {
	var e struct {
		ErrorCode    string         `json:"error_code"`
		Message      string         `json:"message"`
		Type         string         `json:"type"`
		Title        string         `json:"title"`
		Detail       string         `json:"detail"`
		ErrorMessage string         `json:"errorMessage"`
		Report       map[string]any `json:"report"`
	}
	if json.Unmarshal(raw, &e) == nil {
		if s, ok := e.Report["request-id"].(string); ok {
			requestID = s
		}
		detailed, _ := e.Report["detailed-message"].(string)
		switch {
		case e.ErrorMessage != "":
			message = e.ErrorMessage
		case detailed != "":
			message = detailed
		case e.Detail != "":
			message = e.Detail
		case e.Message != "":
			message = e.Message
		default:
			message = e.Title
		}
		if code := flowCode(e.Type); code != "" {
			message = code + ": " + message
		} else if e.ErrorCode != "" {
			message = e.ErrorCode + ": " + message
		}
	}
	if message == "" {
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

// flowCode returns "FLOW-1439-404" from an error type URI such as
// https://ns.adobe.com/aep/errors/FLOW-1439-404.
func flowCode(typ string) string {
	i := strings.LastIndex(typ, "/")
	if code := typ[i+1:]; strings.Contains(code, "-") && !strings.Contains(typ, "placeholder") {
		return code
	}
	return ""
}

// encodeQuery encodes params in order, keeping '=' readable in values as the
// API's own examples write filters (property=name==x).
func encodeQuery(params [][2]string) string {
	parts := make([]string, 0, len(params))
	for _, p := range params {
		v := strings.ReplaceAll(url.QueryEscape(p[1]), "%3D", "=")
		parts = append(parts, url.QueryEscape(p[0])+"="+v)
	}
	return strings.Join(parts, "&")
}
