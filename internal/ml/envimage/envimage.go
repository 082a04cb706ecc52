// Package envimage pulls and builds the images of ML environments that name
// an amlid registry (issue 21, rules ACR-5 and WS-7).
//
//   - Pull fetches an image through the registry's OCI API as a managed
//     identity: an Entra token for the identity exchanged at the registry's
//     /oauth2/exchange, then the manifest and blobs with go-containerregistry.
//     Jobs and deployments call it before they start.
//   - Build makes a managed environment: the base image (pulled with ACR-5's
//     credentials) plus one layer holding the conda file and build context,
//     with labels; the result is deterministic (fixed tar headers and
//     timestamps), named azureml/azureml_<hash of inputs> and pushed to the
//     workspace registry (created on first need, WS-7).
//
// Code still runs on the host's Python: the image is pulled and verified,
// not executed.
package envimage

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/amlid/amlid/internal/access"
	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/ml"
	"github.com/amlid/amlid/internal/token"
)

// Provider pulls and builds environment images.
type Provider struct {
	ML      *ml.Provider
	Tokens  *token.Service
	RootCAs *x509.CertPool
	// Password opens a connection's sealed admin password.
	Password func(conn *arm.Resource) (string, error)
}

// Refused is a pull or build refused by a rule; it maps to a 4xx.
type Refused struct {
	Msg    string
	Status int // 403 for a missing role, else 400
}

func (e *Refused) Error() string { return e.Msg }

func refusedf(format string, args ...any) error {
	return &Refused{Msg: fmt.Sprintf(format, args...), Status: http.StatusBadRequest}
}

// ARMError is err as an ARM answer.
func ARMError(err error) error {
	var r *Refused
	if errors.As(err, &r) {
		code := "UserError"
		if r.Status == http.StatusForbidden {
			code = "AuthorizationFailed"
		}
		return arm.Errorf(r.Status, code, "%s", r.Msg)
	}
	return err
}

func (p *Provider) transport() http.RoundTripper {
	return &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.RootCAs}, Proxy: nil}
}

// ParseImage checks an image reference names an amlid registry, a tag or a
// digest, and returns it with the registry resource.
func (p *Provider) ParseImage(ctx context.Context, scopeID, image string) (name.Reference, *arm.Resource, error) {
	if image == "" {
		return nil, nil, refusedf("the environment names no image")
	}
	last := image[strings.LastIndex(image, "/")+1:]
	if !strings.Contains(last, ":") && !strings.Contains(image, "@") {
		return nil, nil, refusedf("image reference '%s' has no tag or digest: write it as <loginServer>/<repository>:<tag> or @sha256:<digest>", image)
	}
	ref, err := name.ParseReference(image, name.StrictValidation)
	if err != nil {
		return nil, nil, refusedf("image reference '%s' is not valid: %v", image, err)
	}
	host := access.ImageRegistry(image)
	reg, err := access.RegistryByLoginServer(ctx, access.StoreSource(p.ML.Store), scopeID, host)
	if err != nil {
		return nil, nil, refusedf("image '%s' names registry '%s', which is no amlid registry of this subscription (amlid acr list shows their login servers)", image, host)
	}
	return ref, reg, nil
}

// identityAuth gets a registry refresh token for a managed identity
// (principal objectID): an ARM token exchanged at the registry.
func (p *Provider) identityAuth(ctx context.Context, loginServer, objectID string) (authn.Authenticator, error) {
	pr, err := directory.GetPrincipal(ctx, p.ML.Store, objectID)
	if err != nil {
		return nil, fmt.Errorf("principal %s: %w", objectID, err)
	}
	at, err := p.Tokens.IssueAccessToken(ctx, pr, "https://management.azure.com/")
	if err != nil {
		return nil, err
	}
	form := url.Values{"grant_type": {"access_token"}, "service": {loginServer}, "tenant": {pr.TenantID}, "access_token": {at.Token}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+loginServer+"/oauth2/exchange", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := (&http.Client{Transport: p.transport(), Timeout: time.Minute}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		RefreshToken string `json:"refresh_token"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &out) != nil || out.RefreshToken == "" {
		return nil, fmt.Errorf("token exchange at %s: %d %s", loginServer, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return authn.FromConfig(authn.AuthConfig{IdentityToken: out.RefreshToken}), nil
}

// checkPull is the RBAC side of a pull: the identity needs AcrPull (the
// pull action) on the registry, else the refusal names rule, identity and
// fix.
func (p *Provider) checkPull(ctx context.Context, rule string, id access.Identity, reg *arm.Resource, why string) error {
	req := access.Requirement{Rule: rule, Resource: reg.ID, Identity: id, Kind: access.KindRBAC, Action: catalog.RegistryPull,
		Scope: reg.ID, Role: catalog.AcrPull.Name, Why: why}
	fs, err := access.EvaluateAll(ctx, p.ML.Authz, access.StoreSource(p.ML.Store), []access.Requirement{req})
	if err != nil {
		return err
	}
	if un := access.Unmet(fs); len(un) > 0 {
		return &Refused{Msg: access.Refusal(rule, id, un), Status: http.StatusForbidden}
	}
	return nil
}

// Pull fetches image as the managed identity id (rule: ACR-5 for a private
// registry, ACR-2 / EP-3 for the workspace's), writing progress to log. The
// manifest and every layer are read and verified.
func (p *Provider) Pull(ctx context.Context, rule, scopeID, image string, id access.Identity, log io.Writer) (v1.Image, error) {
	ref, reg, err := p.ParseImage(ctx, scopeID, image)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "pulling %s as %s (principal %s)\n", image, id.Label(), id.PrincipalID)
	if err := p.checkPull(ctx, rule, id, reg, "pulls image "+image+" as this identity"); err != nil {
		fmt.Fprintf(log, "refused: %v\n", err)
		return nil, err
	}
	auth, err := p.identityAuth(ctx, reg.StringProp("loginServer"), id.PrincipalID)
	if err != nil {
		return nil, err
	}
	img, err := p.fetch(ctx, ref, auth)
	if err != nil {
		fmt.Fprintf(log, "pull failed: %v\n", err)
		return nil, err
	}
	d, _ := img.Digest()
	fmt.Fprintf(log, "pulled %s (%s)\n", image, d)
	return img, nil
}

func (p *Provider) fetch(ctx context.Context, ref name.Reference, auth authn.Authenticator) (v1.Image, error) {
	img, err := remote.Image(ref, remote.WithContext(ctx), remote.WithTransport(p.transport()), remote.WithAuth(auth))
	if err != nil {
		return nil, err
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			return nil, err
		}
		_, err = io.Copy(io.Discard, rc) // verifies the digest
		rc.Close()
		if err != nil {
			return nil, err
		}
	}
	return img, nil
}

// BuildInput is what a managed environment is built from.
type BuildInput struct {
	Workspace *arm.Resource
	Env       *arm.Resource // the environment version (image, condaFile, build, registryIdentity)
	// Context is the build context's files (path → content), already read.
	Context map[string][]byte
}

// BuildResult is a finished build.
type BuildResult struct {
	Image  string `json:"image"`
	Digest string `json:"digest"`
	Log    string `json:"log"`
}

// Build runs rule ACR-5's checks, pulls the base with the credential they
// allow, and pushes the managed image to the workspace registry.
func (p *Provider) Build(ctx context.Context, in BuildInput) (*BuildResult, error) {
	var log bytes.Buffer
	ws, env := in.Workspace, in.Env
	image, _ := access.EnvImage(env)
	for p := range in.Context {
		if clean := path.Clean("/" + p); clean == "/" || strings.HasPrefix(p, "/") || slicesContains(strings.Split(p, "/"), "..") {
			return nil, refusedf("build context path '%s' leaves the context (absolute or with '..'): only relative paths inside the context are taken", p)
		}
	}
	ref, reg, err := p.ParseImage(ctx, ws.ID, image)
	if err != nil {
		return nil, err
	}
	src := access.StoreSource(p.ML.Store)
	fmt.Fprintf(&log, "building a managed environment on %s (rule ACR-5)\n", image)
	var auth authn.Authenticator
	if strings.EqualFold(reg.ID, ws.StringProp("containerRegistry")) {
		sai, ok := access.Acting(ws)
		if !ok {
			return nil, refusedf("Rule ACR-5: workspace %s has no managed identity to pull from its own registry", ws.Name)
		}
		if auth, err = p.identityAuth(ctx, reg.StringProp("loginServer"), sai.PrincipalID); err != nil {
			return nil, err
		}
	} else {
		res, err := access.ACR5(ctx, src, env)
		if err != nil {
			return nil, err
		}
		pc, err := access.BuildCredential(ctx, src, ws.ID, env)
		if err != nil {
			return nil, err
		}
		switch {
		case pc.UAI != "":
			fmt.Fprintf(&log, "base-image credential: user-assigned identity %s (from %s)\n", pc.UAI, pc.From)
			fs, err := access.EvaluateAll(ctx, p.ML.Authz, src, res.Requirements)
			if err != nil {
				return nil, err
			}
			if un := access.Unmet(fs); len(un) > 0 {
				var msgs []string
				for _, f := range un {
					msgs = append(msgs, access.Refusal("ACR-5", f.Identity, []access.Finding{f}))
				}
				return nil, &Refused{Msg: strings.Join(msgs, "\n"), Status: http.StatusForbidden}
			}
			u, err := src.Get(ctx, pc.UAI)
			if err != nil {
				return nil, refusedf("Rule ACR-5: user-assigned identity %s does not exist", pc.UAI)
			}
			if pc.ClientID != "" && !strings.EqualFold(pc.ClientID, u.StringProp("clientId")) {
				return nil, refusedf("Rule ACR-5: client ID %s is not that of %s", pc.ClientID, pc.UAI)
			}
			if auth, err = p.identityAuth(ctx, reg.StringProp("loginServer"), u.StringProp("principalId")); err != nil {
				return nil, err
			}
		case pc.Username != "":
			fmt.Fprintf(&log, "base-image credential: admin user %s (connection %s)\n", pc.Username, pc.Connection)
			conn, err := src.Get(ctx, pc.Connection)
			if err != nil {
				return nil, err
			}
			pw, err := p.Password(conn)
			if err != nil {
				return nil, err
			}
			auth = &authn.Basic{Username: pc.Username, Password: pw}
		default:
			return nil, refusedf("Rule ACR-5: environment %s builds on private image %s but names no registry credential. Fix: add a workspace connection for %s (amlid ml connection create -f conn.yml with a UAI or admin username/password), or a registry identity on the environment.", env.Name, image, access.ImageRegistry(image))
		}
	}
	base, err := p.fetch(ctx, ref, auth)
	if err != nil {
		fmt.Fprintf(&log, "base pull failed: %v\n", err)
		return nil, refusedf("Rule ACR-5: pulling base image %s failed: %v", image, err)
	}
	bd, _ := base.Digest()
	fmt.Fprintf(&log, "pulled base %s (%s)\n", image, bd)
	img, hash, err := assemble(base, bd.String(), env.StringProp("condaFile"), in.Context)
	if err != nil {
		return nil, err
	}
	wsReg, err := p.ML.EnsureRegistry(ctx, ws.ID)
	if err != nil {
		return nil, err
	}
	wr, err := ml.LoadResource(ctx, p.ML.Store, wsReg)
	if err != nil {
		return nil, err
	}
	ls := wr.StringProp("loginServer")
	target, err := name.ParseReference(ls + "/azureml/azureml_" + hash + ":latest")
	if err != nil {
		return nil, err
	}
	sai, ok := access.Acting(ws)
	if !ok {
		return nil, refusedf("Rule WS-7: workspace %s has no managed identity to push to its registry", ws.Name)
	}
	pushAuth, err := p.identityAuth(ctx, ls, sai.PrincipalID)
	if err != nil {
		return nil, err
	}
	if err := remote.Write(target, img, remote.WithContext(ctx), remote.WithTransport(p.transport()), remote.WithAuth(pushAuth)); err != nil {
		return nil, fmt.Errorf("push %s: %w", target, err)
	}
	d, _ := img.Digest()
	fmt.Fprintf(&log, "pushed %s (%s) to the workspace registry (rule WS-7)\n", target, d)
	return &BuildResult{Image: target.String(), Digest: d.String(), Log: log.String()}, nil
}

// epoch is every file's timestamp in a built layer (deterministic builds).
var epoch = time.Unix(0, 0).UTC()

// assemble adds the conda file and context as one layer, with labels, and
// returns the image and its input hash.
func assemble(base v1.Image, baseDigest, conda string, files map[string][]byte) (v1.Image, string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "base %s\n", baseDigest)
	fmt.Fprintf(h, "conda %d %s\n", len(conda), conda)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(n string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(b)), ModTime: epoch, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	if conda != "" {
		if err := add("azureml-environment-setup/mutated_conda_dependencies.yml", []byte(conda)); err != nil {
			return nil, "", err
		}
	}
	for _, n := range names {
		fmt.Fprintf(h, "file %s %d\n", n, len(files[n]))
		h.Write(files[n])
		if err := add("azureml-environment-setup/context/"+n, files[n]); err != nil {
			return nil, "", err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	hash := hex.EncodeToString(h.Sum(nil))[:32]
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		return nil, "", err
	}
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return nil, "", err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, "", err
	}
	cfg := cf.Config
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	cfg.Labels["com.microsoft.azureml.base-image"] = baseDigest
	cfg.Labels["com.microsoft.azureml.build"] = "amlid " + hash
	img, err = mutate.Config(img, cfg)
	if err != nil {
		return nil, "", err
	}
	img, err = mutate.CreatedAt(img, v1.Time{Time: epoch})
	if err != nil {
		return nil, "", err
	}
	return img, hash, nil
}

// IsRefused says whether err is a rule's refusal (a 4xx).
func IsRefused(err error) bool {
	var r *Refused
	return errors.As(err, &r)
}

// AmlidRegistry says whether image names a registry of this subscription
// (or an address shaped like amlid's login servers, host:port on a
// loopback), which amlid must be able to pull from.
func (p *Provider) AmlidRegistry(ctx context.Context, scopeID, image string) bool {
	host := access.ImageRegistry(image)
	if host == "" {
		return false
	}
	if _, err := access.RegistryByLoginServer(ctx, access.StoreSource(p.ML.Store), scopeID, host); err == nil {
		return true
	}
	h := host
	if i := strings.LastIndex(h, ":"); i > 0 {
		h = h[:i]
	}
	return h == "127.0.0.1" || h == "localhost" || h == "[::1]"
}

// PrepareEnvironment is the environment-version hook: an environment on an
// amlid registry's image is checked (tag or digest, registry exists) and,
// when built (conda file or build context), built now; the result is
// recorded in properties.amlidBuild {status, image, digest, log}.
func (p *Provider) PrepareEnvironment(ctx context.Context, c *arm.Call, id arm.ID, old *arm.Resource, body map[string]any) error {
	props, _ := body["properties"].(map[string]any)
	if props == nil {
		return nil
	}
	delete(props, "amlidBuild")
	if old != nil && props[ContextProp] == nil {
		// An update that changes no build input (archive, description,
		// tags) keeps the build.
		if ob, ok := old.Prop("amlidBuild").(map[string]any); ok && old.StringProp("image") == fmt.Sprint(props["image"]) &&
			old.StringProp("condaFile") == fmt.Sprint(firstOr(props["condaFile"], "")) {
			props["amlidBuild"] = ob
			if h := old.StringProp("buildContextHash"); h != "" {
				props["buildContextHash"] = h
			}
			return nil
		}
	}
	files, err := contextFiles(props)
	if err != nil {
		return err
	}
	if props["image"] == nil || props["image"] == "" {
		if from := dockerfileFrom(files, props); from != "" {
			props["image"] = from
		}
	}
	env := &arm.Resource{ID: id.String(), Name: id.Name(), Type: catalog.TypeEnvVersion, Properties: props}
	image, built := access.EnvImage(env)
	built = built || len(files) > 0
	if image == "" || !p.AmlidRegistry(ctx, id.String(), image) {
		return nil
	}
	if ri, ok := props["registryIdentity"]; ok && ri != nil {
		m, ok := ri.(map[string]any)
		if rid, _ := m["resourceId"].(string); !ok || rid == "" {
			return arm.Errorf(http.StatusBadRequest, "UserError", "properties.registryIdentity must be {\"resourceId\": <UAI resource ID>, \"clientId\": <its client ID>} (v1 RegistryIdentity).")
		}
	}
	if _, _, err := p.ParseImage(ctx, id.String(), image); err != nil {
		return ARMError(err)
	}
	if !built {
		return nil // pulled as is by the compute or endpoint identity (ACR-5)
	}
	wsID := id.Parent().Parent()
	ws, err := ml.LoadResource(ctx, p.ML.Store, wsID.String())
	if err != nil {
		return nil // the front door answers ParentResourceNotFound
	}
	res, err := p.Build(ctx, BuildInput{Workspace: ws, Env: env, Context: files})
	if err != nil {
		p.ML.Log().Info("environment build refused", "environment", id.String(), "err", err)
		return ARMError(err)
	}
	props["amlidBuild"] = map[string]any{"status": "Succeeded", "image": res.Image, "digest": res.Digest, "log": res.Log}
	return nil
}

// EnvironmentImage is the image a job or deployment of environment version
// env pulls: the built managed image when amlid built one, else the
// environment's image as is; "" when it names no amlid registry. rule is
// the rule the pull answers to (ACR-5 for a private registry's image as is,
// ACR-2 for the workspace registry's).
func (p *Provider) EnvironmentImage(ctx context.Context, env *arm.Resource) (image, rule string) {
	if b, ok := env.Prop("amlidBuild").(map[string]any); ok {
		if s, _ := b["image"].(string); s != "" {
			return s, "ACR-2"
		}
	}
	img, _ := access.EnvImage(env)
	if img == "" || !p.AmlidRegistry(ctx, env.ID, img) {
		return "", ""
	}
	return img, "ACR-5"
}

// PullInto is what a job or deployment does before it starts: pull the
// environment version's image (EnvironmentImage) as identity id into dir
// (an OCI image layout), writing the steps to log. It returns the pulled
// image reference ("" when the environment names no amlid registry's
// image); a refusal is a *Refused naming the rule, identity and fix.
func (p *Provider) PullInto(ctx context.Context, env *arm.Resource, id access.Identity, dir string, log io.Writer) (string, error) {
	image, rule := p.EnvironmentImage(ctx, env)
	if image == "" {
		return "", nil
	}
	if rule == "ACR-2" && strings.Contains(strings.ToLower(id.Of), "/onlineendpoints/") {
		rule = "EP-3" // an endpoint pulls from the workspace registry under EP-3
	}
	img, err := p.Pull(ctx, rule, env.ID, image, id, log)
	if err != nil {
		return image, err
	}
	if dir != "" {
		lp, err := layout.Write(dir, empty.Index)
		if err != nil {
			return image, err
		}
		if err := lp.AppendImage(img); err != nil {
			return image, err
		}
		fmt.Fprintf(log, "image layout written to %s (code still runs on the host's python3, not inside the image)\n", dir)
	}
	return image, nil
}

// ContextProp is the request property carrying a local build context the
// CLI read (path → base64 content); amlid keeps only its hash.
const ContextProp = "amlidBuildContext"

// contextFiles reads and removes the inline build context, refusing paths
// that leave it.
func contextFiles(props map[string]any) (map[string][]byte, error) {
	raw, ok := props[ContextProp]
	delete(props, ContextProp)
	if !ok || raw == nil {
		return nil, nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, arm.Errorf(http.StatusBadRequest, "UserError", "properties.%s must map relative paths to base64 contents.", ContextProp)
	}
	out := map[string][]byte{}
	h := sha256.New()
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "" || strings.HasPrefix(k, "/") || strings.Contains(k, "\\") || slicesContains(strings.Split(k, "/"), "..") {
			return nil, arm.Errorf(http.StatusBadRequest, "UserError", "Build context path '%s' leaves the context (absolute, or with '..'): only relative paths inside the build context are taken.", k)
		}
		s, _ := m[k].(string)
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, arm.Errorf(http.StatusBadRequest, "UserError", "Build context file '%s' is not base64: %v", k, err)
		}
		out[k] = b
		fmt.Fprintf(h, "%s %d\n", k, len(b))
		h.Write(b)
	}
	props["buildContextHash"] = hex.EncodeToString(h.Sum(nil))
	if props["build"] == nil {
		props["build"] = map[string]any{"contextUri": "local", "dockerfilePath": "Dockerfile"}
	}
	return out, nil
}

func slicesContains(ss []string, v string) bool {
	for _, s := range ss {
		if s == v {
			return true
		}
	}
	return false
}

// dockerfileFrom is the base image a build context's Dockerfile names
// (its first FROM), when the environment names no image.
func dockerfileFrom(files map[string][]byte, props map[string]any) string {
	df := "Dockerfile"
	if b, ok := props["build"].(map[string]any); ok {
		if s, _ := b["dockerfilePath"].(string); s != "" {
			df = s
		}
	}
	for _, line := range strings.Split(string(files[df]), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && strings.EqualFold(f[0], "FROM") {
			for _, x := range f[1:] {
				if !strings.HasPrefix(x, "--") {
					return x
				}
			}
		}
	}
	return ""
}

func firstOr(v, def any) any {
	if v == nil {
		return def
	}
	return v
}
