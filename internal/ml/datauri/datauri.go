// Package datauri is amlid's one reader of the data references Azure ML
// accepts wherever it takes data (data assets, job inputs, the analyzer,
// the CLI):
//
//	azureml://datastores/<datastore>/paths/<path>
//	azureml://subscriptions/<s>/resourcegroups/<rg>/workspaces/<ws>/datastores/<datastore>/paths/<path>
//	azureml:<name>:<version>   azureml:<name>@latest   (a data asset)
//	https://<account>.blob.<suffix>/<container>/<path>   (and amlid's path-style https://host/<account>/<container>/<path>)
//	wasbs://<container>@<account>.blob.<suffix>/<path>   abfss://<filesystem>@<account>.dfs.<suffix>/<path>
//
// Parse checks the form; Resolve follows data assets and datastores to the
// storage location, refusing paths that climb ("..") and datastores or
// assets the workspace does not have.
package datauri

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"

	"github.com/amlid/amlid/internal/arm"
)

// Kinds of reference.
const (
	KindDatastore = "datastore" // azureml://datastores/…/paths/…
	KindAsset     = "asset"     // azureml:<name>:<version>
	KindHTTPS     = "https"     // a blob URL
	KindWASBS     = "wasbs"     // wasbs:// or abfss://
)

// Ref is a parsed reference.
type Ref struct {
	Raw  string `json:"raw"`
	Kind string `json:"kind"`
	// Datastore and Path (KindDatastore): the path is relative, no leading
	// slash, "" for the datastore's root.
	Datastore string `json:"datastore,omitempty"`
	Path      string `json:"path,omitempty"`
	// Workspace scope of a long-form azureml:// URI.
	Subscription  string `json:"subscription,omitempty"`
	ResourceGroup string `json:"resourceGroup,omitempty"`
	Workspace     string `json:"workspace,omitempty"`
	// Asset name and version (KindAsset); Version "" with Label "latest".
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
	Label   string `json:"label,omitempty"`
	// Storage location (KindHTTPS, KindWASBS; and after Resolve).
	Account   string `json:"account,omitempty"`
	Container string `json:"container,omitempty"`
	Host      string `json:"host,omitempty"`
}

// Error is a reference that cannot be used; callers answer 400 with it.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

func errorf(format string, args ...any) error { return &Error{Msg: fmt.Sprintf(format, args...)} }

// ErrNotFound is what a Lookup returns for a missing datastore or asset.
var ErrNotFound = errors.New("datauri: not found")

var (
	nameRE    = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9_.-]*$`)
	versionRE = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9_.-]*$`)
)

// Parse reads a reference without looking anything up.
func Parse(raw string) (Ref, error) {
	s := strings.TrimSpace(raw)
	r := Ref{Raw: raw}
	lower := asciiLower(s)
	switch {
	case s == "":
		return r, errorf("The data reference is empty: give an azureml://datastores/<name>/paths/<path> URI, azureml:<asset>:<version>, or an https:// or wasbs:// URL.")
	case strings.HasPrefix(lower, "azureml://"):
		return parseAzureML(r, s)
	case strings.HasPrefix(lower, "azureml:"):
		return parseAsset(r, s[len("azureml:"):])
	case strings.HasPrefix(lower, "https://"):
		return parseHTTPS(r, s)
	case strings.HasPrefix(lower, "wasbs://"), strings.HasPrefix(lower, "wasb://"), strings.HasPrefix(lower, "abfss://"), strings.HasPrefix(lower, "abfs://"):
		return parseWASBS(r, s)
	case strings.HasPrefix(lower, "http://"):
		return r, errorf("'%s' uses http: storage is reached over https only (https://, wasbs://, abfss://).", raw)
	}
	return r, errorf("'%s' is not a data reference amlid understands: use azureml://datastores/<datastore>/paths/<path>, azureml:<asset>:<version> (or @latest), https://<account>.blob.core.windows.net/<container>/<path> or wasbs://<container>@<account>.blob.core.windows.net/<path>.", raw)
}

// cleanPath checks a relative storage path: no "..", no "." segments, no
// backslashes, decoded percent-escapes included. It returns the path
// without a leading slash.
func cleanPath(raw, p string) (string, error) {
	dec, err := url.PathUnescape(p)
	if err != nil {
		return "", errorf("'%s': the path is not valid percent-encoding: %v", raw, err)
	}
	if strings.Contains(dec, "\\") {
		return "", errorf("'%s': backslashes are not allowed in a storage path; use '/'.", raw)
	}
	trail := strings.HasSuffix(dec, "/")
	var segs []string
	for _, seg := range strings.Split(strings.TrimLeft(dec, "/"), "/") {
		switch seg {
		case "..":
			return "", errorf("'%s': '..' is not allowed in a data path: a reference cannot climb out of its datastore or container.", raw)
		case ".", "":
			continue
		}
		segs = append(segs, seg)
	}
	out := strings.Join(segs, "/")
	if trail && out != "" {
		out += "/"
	}
	return out, nil
}

// asciiLower lower-cases ASCII letters only, byte for byte, so offsets in
// its result are offsets in s.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func parseAzureML(r Ref, s string) (Ref, error) {
	rest := s[len("azureml://"):]
	// Split off the path: everything after "/paths/".
	// asciiLower keeps byte offsets (strings.ToLower may not: some
	// characters change length), so i indexes rest itself.
	i := strings.Index(asciiLower(rest), "/paths/")
	head, p := rest, ""
	hasPath := false
	if i >= 0 {
		head, p, hasPath = rest[:i], rest[i+len("/paths/"):], true
	} else if strings.HasSuffix(asciiLower(rest), "/paths") {
		head, hasPath = rest[:len(rest)-len("/paths")], true
	}
	segs := strings.Split(strings.Trim(head, "/"), "/")
	switch {
	case len(segs) == 2 && strings.EqualFold(segs[0], "datastores"):
		r.Datastore = segs[1]
	case len(segs) == 8 && strings.EqualFold(segs[0], "subscriptions") && strings.EqualFold(segs[2], "resourcegroups") &&
		strings.EqualFold(segs[4], "workspaces") && strings.EqualFold(segs[6], "datastores"):
		r.Subscription, r.ResourceGroup, r.Workspace, r.Datastore = segs[1], segs[3], segs[5], segs[7]
	default:
		return r, errorf("'%s' is not an azureml:// datastore URI: the form is azureml://datastores/<datastore>/paths/<path> (or azureml://subscriptions/<s>/resourcegroups/<rg>/workspaces/<ws>/datastores/<datastore>/paths/<path>).", r.Raw)
	}
	if !hasPath {
		return r, errorf("'%s' names no path: add /paths/<path> (azureml://datastores/%s/paths/<path>).", r.Raw, r.Datastore)
	}
	if !nameRE.MatchString(r.Datastore) {
		return r, errorf("'%s': '%s' is not a datastore name (letters, digits and underscores).", r.Raw, r.Datastore)
	}
	cp, err := cleanPath(r.Raw, p)
	if err != nil {
		return r, err
	}
	r.Kind, r.Path = KindDatastore, cp
	return r, nil
}

func parseAsset(r Ref, s string) (Ref, error) {
	s = strings.TrimPrefix(s, "//")
	r.Kind = KindAsset
	switch {
	case strings.Contains(s, "@"):
		n, label, _ := strings.Cut(s, "@")
		if !strings.EqualFold(label, "latest") {
			return r, errorf("'%s': the only label is @latest.", r.Raw)
		}
		r.Name, r.Label = n, "latest"
	case strings.Contains(s, ":"):
		r.Name, r.Version, _ = strings.Cut(s, ":")
		if !versionRE.MatchString(r.Version) {
			return r, errorf("'%s': '%s' is not a version.", r.Raw, r.Version)
		}
	default:
		return r, errorf("'%s' names a data asset without a version: use azureml:%s:<version> or azureml:%s@latest.", r.Raw, s, s)
	}
	if !nameRE.MatchString(r.Name) {
		return r, errorf("'%s': '%s' is not a data asset name.", r.Raw, r.Name)
	}
	return r, nil
}

// storageHost splits <account>.<service>.<suffix> (or 127.0.0.1:port for
// amlid's path-style endpoint, account "").
func storageHost(host string) (account, service string, pathStyle bool) {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if ip := net.ParseIP(h); ip != nil || h == "localhost" {
		return "", "", true
	}
	parts := strings.SplitN(strings.ToLower(h), ".", 3)
	if len(parts) < 3 {
		return "", "", false
	}
	return parts[0], parts[1], false
}

func parseHTTPS(r Ref, s string) (Ref, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return r, errorf("'%s' is not a URL: %v", r.Raw, err)
	}
	r.Kind, r.Host = KindHTTPS, u.Host
	p := u.EscapedPath()
	acct, svc, pathStyle := storageHost(u.Host)
	if pathStyle {
		a, rest, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
		acct, p = a, rest
	} else {
		if svc != "blob" && svc != "dfs" {
			return r, errorf("'%s' is not a storage URL: the host must be <account>.blob.<suffix> or <account>.dfs.<suffix>.", r.Raw)
		}
		p = strings.TrimPrefix(p, "/")
	}
	c, rest, _ := strings.Cut(p, "/")
	if acct == "" || c == "" {
		return r, errorf("'%s' names no container: the form is https://<account>.blob.core.windows.net/<container>/<path>.", r.Raw)
	}
	cp, err := cleanPath(r.Raw, rest)
	if err != nil {
		return r, err
	}
	r.Account, r.Container, r.Path = acct, c, cp
	return r, nil
}

func parseWASBS(r Ref, s string) (Ref, error) {
	u, err := url.Parse(s)
	if err != nil || u.User == nil || u.Host == "" {
		return r, errorf("'%s' is not a wasbs/abfss URL: the form is wasbs://<container>@<account>.blob.core.windows.net/<path>.", r.Raw)
	}
	acct, _, _ := storageHost(u.Host)
	if acct == "" {
		return r, errorf("'%s': the host must be <account>.blob.<suffix> (or .dfs.).", r.Raw)
	}
	cp, err := cleanPath(r.Raw, u.EscapedPath())
	if err != nil {
		return r, err
	}
	r.Kind, r.Host, r.Account, r.Container, r.Path = KindWASBS, u.Host, acct, u.User.Username(), cp
	return r, nil
}

// Lookup finds a workspace's datastores and data assets.
type Lookup interface {
	// Datastore returns the datastore (ErrNotFound when the workspace has
	// none of that name).
	Datastore(ctx context.Context, name string) (*arm.Resource, error)
	// DataVersion returns a data asset version; version "" means the
	// latest (ErrNotFound when absent).
	DataVersion(ctx context.Context, name, version string) (*arm.Resource, error)
}

// Resolved is a reference followed to its storage location.
type Resolved struct {
	Ref
	// Asset is the data asset version a KindAsset reference named.
	Asset *arm.Resource `json:"-"`
	// DataType of the asset (uri_file, uri_folder, mltable), when known.
	DataType string `json:"dataType,omitempty"`
	// DatastoreResource is the datastore the location lies in (nil for a
	// URL outside every datastore).
	DatastoreResource *arm.Resource `json:"-"`
	// DatastoreType (AzureBlob, AzureDataLakeGen2, AzureFile, AzureDataLakeGen1).
	DatastoreType string `json:"datastoreType,omitempty"`
	// URI is the canonical azureml://datastores/<d>/paths/<p> form when the
	// location is in a datastore, else the URL.
	URI string `json:"uri"`
}

// ContainerOf returns the container (file system, file share) a datastore
// resource names.
func ContainerOf(ds *arm.Resource) string {
	for _, k := range []string{"containerName", "filesystem", "fileShareName"} {
		if s := ds.StringProp(k); s != "" {
			return s
		}
	}
	return ""
}

// Resolve parses raw and follows it: an asset to its version's dataUri, a
// datastore URI to the datastore's account and container. A datastore or
// asset the workspace lacks is refused, naming it.
func Resolve(ctx context.Context, l Lookup, raw string) (*Resolved, error) {
	return resolve(ctx, l, raw, 0)
}

func resolve(ctx context.Context, l Lookup, raw string, depth int) (*Resolved, error) {
	r, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	out := &Resolved{Ref: r, URI: strings.TrimSpace(raw)}
	switch r.Kind {
	case KindAsset:
		if depth > 0 {
			return nil, errorf("'%s': a data asset's path cannot name another data asset.", raw)
		}
		v, err := l.DataVersion(ctx, r.Name, r.Version)
		if errors.Is(err, ErrNotFound) {
			if r.Version == "" {
				return nil, errorf("'%s': the workspace has no data asset '%s' (amlid ml data list).", raw, r.Name)
			}
			return nil, errorf("'%s': the workspace has no data asset '%s' version '%s' (amlid ml data list --name %s).", raw, r.Name, r.Version, r.Name)
		}
		if err != nil {
			return nil, err
		}
		inner, err := resolve(ctx, l, v.StringProp("dataUri"), depth+1)
		if err != nil {
			return nil, err
		}
		inner.Ref.Raw, inner.Ref.Name, inner.Ref.Label = raw, r.Name, r.Label
		inner.Ref.Version = v.Name
		inner.Kind = KindAsset
		inner.Asset = v
		inner.DataType = v.StringProp("dataType")
		return inner, nil
	case KindDatastore:
		ds, err := l.Datastore(ctx, r.Datastore)
		if errors.Is(err, ErrNotFound) {
			return nil, errorf("'%s': the workspace has no datastore '%s' (amlid ml datastore list shows them; create one with amlid ml datastore create -f ds.yml).", raw, r.Datastore)
		}
		if err != nil {
			return nil, err
		}
		out.DatastoreResource = ds
		out.DatastoreType = ds.StringProp("datastoreType")
		out.Account = ds.StringProp("accountName")
		if out.Account == "" {
			out.Account = ds.StringProp("storeName")
		}
		out.Container = ContainerOf(ds)
		out.Datastore = ds.Name
		out.URI = "azureml://datastores/" + ds.Name + "/paths/" + r.Path
	}
	return out, nil
}
