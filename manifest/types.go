package manifest

// Platform names an integration platform, the value of target.platform.
type Platform string

// The platforms hubprov provisions on.
const (
	CloudElements  Platform = "cloud-elements"
	OpenConnectors Platform = "open-connectors"
	AdobeFlow      Platform = "adobe-flow"
)

// AuthType is the kind of HubSpot authentication an account uses.
type AuthType string

// The authentication types of an account.
const (
	AuthAPIKey       AuthType = "apiKey"
	AuthOAuth2       AuthType = "oauth2"
	AuthOAuth2Tokens AuthType = "oauth2Tokens"
)

// The element keys of the two HubSpot elements on Cloud Elements and Open Connectors.
const (
	ElementMarketing = "hubspot"
	ElementCRM       = "hubspotcrm"
)

// Pos is a position in a manifest file. Line and Col count from 1.
type Pos struct {
	File string
	Line int
	Col  int
}

// File is one manifest file of a run.
type File struct {
	Path   string // as given on the command line, or found in a given folder
	SHA256 string // hex digest of the file's bytes
}

// Manifest is a validated run: all files merged, defaults applied.
type Manifest struct {
	Files    []File
	Version  int
	Set      string
	Target   Target
	Accounts []Account // in file order, then document order; defaults already merged
}

// Target says which platform to provision on and with which credentials.
type Target struct {
	Platform    Platform
	BaseURL     string // empty means the platform's default (open-connectors has none)
	Credentials Credentials
	Pos         Pos
}

// Credentials are the platform credentials. Cloud Elements and Open Connectors use
// User and Organization; Adobe Flow Service uses AccessToken, APIKey, IMSOrg and Sandbox.
type Credentials struct {
	User         Secret
	Organization Secret

	AccessToken Secret
	APIKey      Secret
	IMSOrg      string
	Sandbox     string
}

// Account is one HubSpot account (portal): it becomes one instance or connection.
type Account struct {
	Name          string
	Element       string // hubspot or hubspotcrm; empty on adobe-flow
	Description   string // adobe-flow only
	Auth          Auth
	Tags          []string
	Configuration map[string]any // platform configuration keys, values as given (string, bool, number)
	Pos           Pos            // position of the account's "name" value
}

// Auth is an account's HubSpot authentication.
type Auth struct {
	Type         AuthType
	APIKey       Secret // apiKey
	ClientID     string // oauth2, oauth2Tokens
	ClientSecret Secret // oauth2, oauth2Tokens
	CallbackURL  string // oauth2, oauth2Tokens
	Scopes       []string
	Code         Secret // oauth2: the authorization code; may be absent until consent is given
	AccessToken  Secret // oauth2Tokens
	RefreshToken Secret // oauth2Tokens
	ExpiresIn    int    // oauth2Tokens: access-token lifetime in seconds, 0 when not given
}

// Secrets returns pointers to every secret of the manifest, in a stable order,
// so a caller can resolve or collect them.
func (m *Manifest) Secrets() []*Secret {
	c := &m.Target.Credentials
	out := []*Secret{&c.User, &c.Organization, &c.AccessToken, &c.APIKey}
	for i := range m.Accounts {
		a := &m.Accounts[i].Auth
		out = append(out, &a.APIKey, &a.ClientSecret, &a.Code, &a.AccessToken, &a.RefreshToken)
	}
	return out
}
