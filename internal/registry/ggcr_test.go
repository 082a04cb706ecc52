package registry_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

func (e *env) remoteOpts(auth authn.Authenticator) []remote.Option {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	e.t.Cleanup(cancel)
	return []remote.Option{remote.WithAuth(auth), remote.WithTransport(e.transport()), remote.WithContext(ctx)}
}

func ref(t testing.TB, s string) name.Reference {
	r, err := name.ParseReference(s)
	must(t, err)
	return r
}

// samePulled pulls ref and checks it is img, byte for byte in every layer.
func samePulled(t *testing.T, r name.Reference, img v1.Image, opts []remote.Option) {
	t.Helper()
	got, err := remote.Image(r, opts...)
	if err != nil {
		t.Fatalf("pull %s: %v", r, err)
	}
	wd, _ := img.Digest()
	gd, err := got.Digest()
	must(t, err)
	if wd != gd {
		t.Fatalf("pulled digest %s, pushed %s", gd, wd)
	}
	wl, _ := img.Layers()
	gl, err := got.Layers()
	must(t, err)
	if len(gl) != len(wl) || len(gl) < 2 {
		t.Fatalf("pulled %d layers, pushed %d", len(gl), len(wl))
	}
	for i := range gl {
		rc, err := gl[i].Compressed()
		must(t, err)
		n, err := io.Copy(io.Discard, rc) // ggcr verifies the digest while reading
		rc.Close()
		if err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
		if ws, _ := wl[i].Size(); ws != n {
			t.Fatalf("layer %d: %d bytes, want %d", i, n, ws)
		}
	}
}

// A principal holding AcrPush pushes and pulls a multi-layer image with
// go-containerregistry, using the refresh token the exchange gives it
// (both ways docker clients use one: the OAuth2 refresh grant, and Basic
// auth with the empty GUID).
func TestACR1_EntraTokenAcrPushPushesAndPulls(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	ls := e.createRegistry("pushreg1", false)
	pusher := e.newApp("pusher", e.tenant)
	e.grant(pusher.objectID, roleAcrPush, e.registryPath("pushreg1"))
	rt := e.exchange(ls, pusher)

	img, err := random.Image(256<<10, 3)
	must(t, err)
	r := ref(t, ls+"/team/app:v1")
	oauth := e.remoteOpts(authn.FromConfig(authn.AuthConfig{IdentityToken: rt}))
	if err := remote.Write(r, img, oauth...); err != nil {
		t.Fatalf("push with AcrPush: %v", err)
	}
	samePulled(t, r, img, oauth)
	basic := e.remoteOpts(&authn.Basic{Username: "00000000-0000-0000-0000-000000000000", Password: rt})
	samePulled(t, r, img, basic)
	// A second image sharing no layers, pushed with the Basic flavour.
	img2, _ := random.Image(64<<10, 2)
	r2 := ref(t, ls+"/team/app:v2")
	if err := remote.Write(r2, img2, basic...); err != nil {
		t.Fatalf("push (basic+refresh token): %v", err)
	}
	tags, err := remote.List(r.Context(), basic...)
	must(t, err)
	if strings.Join(tags, ",") != "v1,v2" {
		t.Fatalf("tags: %v", tags)
	}
	// The catalog needs registry:catalog:* (granted to pullers).
	repos, err := remote.Catalog(context.Background(), r.Context().Registry, basic...)
	must(t, err)
	if len(repos) != 1 || repos[0] != "team/app" {
		t.Fatalf("catalog: %v", repos)
	}
}

// AcrPull pulls and is refused on push, with DENIED naming the role that
// would grant it (RBAC-4); Owner/Contributor push like Azure lets them.
func TestACR1_AcrPullPullsButCannotPush(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	ls := e.createRegistry("pullreg1", true)
	img, _ := random.Image(128<<10, 2)
	r := ref(t, ls+"/base/python:3.11")
	adminOpts := e.remoteOpts(&authn.Basic{Username: "pullreg1", Password: e.adminPassword("pullreg1")})
	if err := remote.Write(r, img, adminOpts...); err != nil {
		t.Fatalf("admin push: %v", err)
	}
	puller := e.newApp("puller", e.tenant)
	e.grant(puller.objectID, roleAcrPull, e.registryPath("pullreg1"))
	opts := e.remoteOpts(authn.FromConfig(authn.AuthConfig{IdentityToken: e.exchange(ls, puller)}))
	samePulled(t, r, img, opts)

	img2, _ := random.Image(1024, 2)
	err := remote.Write(ref(t, ls+"/base/python:evil"), img2, opts...)
	var te *transport.Error
	if !errors.As(err, &te) || te.StatusCode != http.StatusForbidden || len(te.Errors) == 0 || te.Errors[0].Code != transport.DeniedErrorCode ||
		!strings.Contains(te.Errors[0].Message, "AcrPush") || !strings.Contains(te.Errors[0].Message, "amlid role assignment create") {
		t.Fatalf("push with AcrPull only: want 403 DENIED naming AcrPush, got %v", err)
	}
	// The token it got for push carries pull only.
	st, out := e.accessToken(ls, e.exchange(ls, puller), "repository:base/python:pull,push")
	if st != http.StatusOK || !strings.Contains(decodeAccess(t, out["access_token"].(string)), `"actions":["pull"]`) {
		t.Fatalf("token for pull,push: %d %v", st, out)
	}

	// No role at all: even pull is denied.
	nobody := e.newApp("nobody", e.tenant)
	_, err = remote.Image(r, e.remoteOpts(authn.FromConfig(authn.AuthConfig{IdentityToken: e.exchange(ls, nobody)}))...)
	if !errors.As(err, &te) || te.StatusCode != http.StatusForbidden || !strings.Contains(err.Error(), "AcrPull") {
		t.Fatalf("pull without a role: %v", err)
	}
	// Contributor holds '*': it pushes (Azure lets Owner/Contributor).
	contrib := e.newApp("contrib", e.tenant)
	e.grant(contrib.objectID, roleContributor, "/subscriptions/"+e.sub+"/resourceGroups/"+e.rg)
	if err := remote.Write(ref(t, ls+"/base/python:contrib"), img2, e.remoteOpts(authn.FromConfig(authn.AuthConfig{IdentityToken: e.exchange(ls, contrib)}))...); err != nil {
		t.Fatalf("Contributor push: %v", err)
	}
}

// Rule ACR-1: the admin user's Basic credentials work while the admin user
// is enabled and are refused once it is disabled; listCredentials then
// answers UnAuthorizedForCredentialOperations.
func TestACR1_AdminUserOnlyWhileEnabled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	ls := e.createRegistry("adminreg1", true)
	pw := e.adminPassword("adminreg1")
	img, _ := random.Image(200<<10, 3)
	r := ref(t, ls+"/web:1")
	opts := e.remoteOpts(&authn.Basic{Username: "adminreg1", Password: pw})
	if err := remote.Write(r, img, opts...); err != nil {
		t.Fatalf("admin push: %v", err)
	}
	samePulled(t, r, img, opts)
	// password2 works too; a wrong password does not.
	st, out := e.armDo(e.admin, http.MethodPost, e.registryPath("adminreg1")+"/listCredentials", apiACR, nil)
	pw2 := out["passwords"].([]any)[1].(map[string]any)["value"].(string)
	if st != 200 || out["username"] != "adminreg1" || pw2 == pw {
		t.Fatalf("listCredentials: %d %v", st, out)
	}
	samePulled(t, r, img, e.remoteOpts(&authn.Basic{Username: "adminreg1", Password: pw2}))
	if _, err := remote.Image(r, e.remoteOpts(&authn.Basic{Username: "adminreg1", Password: "wrong"})...); err == nil {
		t.Fatal("a wrong admin password was accepted")
	}
	// Regenerating password replaces it.
	st, out = e.armDo(e.admin, http.MethodPost, e.registryPath("adminreg1")+"/regenerateCredential", apiACR, map[string]any{"name": "password"})
	if st != 200 || out["passwords"].([]any)[0].(map[string]any)["value"] == pw {
		t.Fatalf("regenerateCredential: %d %v", st, out)
	}
	if _, err := remote.Image(r, opts...); err == nil {
		t.Fatal("the regenerated password still works")
	}
	// The GET never shows a password.
	st, out = e.armDo(e.admin, http.MethodGet, e.registryPath("adminreg1"), apiACR, nil)
	if st != 200 || strings.Contains(toJSON(out), pw2) {
		t.Fatalf("GET shows a secret: %v", out)
	}
	// Turn the admin user off (what az acr update --admin-enabled false sends).
	st, out = e.armDo(e.admin, http.MethodPatch, e.registryPath("adminreg1"), "2022-02-01-preview", map[string]any{"properties": map[string]any{"adminUserEnabled": false}})
	if st != 200 || out["properties"].(map[string]any)["adminUserEnabled"] != false {
		t.Fatalf("PATCH: %d %v", st, out)
	}
	_, err := remote.Image(r, e.remoteOpts(&authn.Basic{Username: "adminreg1", Password: pw2})...)
	var te *transport.Error
	if !errors.As(err, &te) || te.StatusCode != http.StatusUnauthorized || !strings.Contains(err.Error(), "ACR-1") {
		t.Fatalf("Basic with the admin user off: want 401 naming ACR-1, got %v", err)
	}
	st, out = e.armDo(e.admin, http.MethodPost, e.registryPath("adminreg1")+"/listCredentials", apiACR, nil)
	if st != http.StatusBadRequest || out["error"].(map[string]any)["code"] != "UnAuthorizedForCredentialOperations" {
		t.Fatalf("listCredentials with the admin off: %d %v", st, out)
	}
}
