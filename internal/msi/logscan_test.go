package msi

import (
	"net/url"
	"strings"
	"testing"
)

// TestLogsHoldNoSecrets drives good and bad requests in every form, with
// the MSI handler and the token service logging at debug level, then
// looks for every workload ID, secret and token in the output.
func TestLogsHoldNoSecrets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.register(t, resBoth), e.register(t, resUAI)
	wrong := strings.Repeat("9f", 32)
	e.note(wrong)
	form := "resource=" + url.QueryEscape(storageAud)

	// Successes.
	e.do(t, "GET", tokenURL(e, a)+q(storageAud), secretHdr(a), "")
	e.do(t, "GET", tokenURL(e, a)+q(armAud, "clientid", e.uai1.AppID), identityHdr(a), "")
	e.do(t, "POST", tokenURL(e, a), metadataHdr, form)
	e.do(t, "GET", imdsURL(e, b)+q(storageAud, "object_id", e.uai2.ObjectID), metadataHdr, "")
	// Refusals of every kind.
	e.do(t, "GET", tokenURL(e, a)+q(storageAud), map[string]string{"secret": wrong}, "")
	e.do(t, "GET", tokenURL(e, b)+q(storageAud), secretHdr(a), "")
	e.do(t, "GET", tokenURL(e, a)+q(storageAud), map[string]string{"X-Secret": a.Secret}, "")
	e.do(t, "GET", tokenURL(e, a)+q(storageAud, "secret", a.Secret), nil, "")
	e.do(t, "GET", tokenURL(e, a)+q(storageAud, "clientid", e.stranger.AppID), secretHdr(a), "")
	e.do(t, "GET", tokenURL(e, a)+"?resource=%zz", secretHdr(a), "")
	e.do(t, "GET", imdsURL(e, a)+q(storageAud), nil, "")
	e.do(t, "POST", tokenURL(e, a), map[string]string{"Metadata": "true", "secret": b.Secret}, form)
	e.do(t, "PUT", tokenURL(e, a), secretHdr(a), "")
	for _, p := range []string{
		"/msi/" + a.ID + "/../" + b.ID + "/token", "/msi/" + a.ID + "%2Ftoken", "/msi/" + a.ID + "/token/x",
		"/msi//" + a.ID + "/token", "/x/" + a.ID + "/" + a.Secret,
	} {
		e.raw(t, "GET "+p+"?resource=x HTTP/1.1\r\nHost: 127.0.0.1\r\nsecret: "+a.Secret+"\r\nConnection: close\r\n\r\n")
	}
	e.reg.Unregister(a.ID)
	e.do(t, "GET", tokenURL(e, a)+q(storageAud), secretHdr(a), "")
	e.do(t, "POST", tokenURL(e, a), metadataHdr, form)
	e.do(t, "GET", imdsURL(e, a)+q(storageAud), metadataHdr, "")

	logs := e.logs.String()
	if !strings.Contains(logs, "managed identity token issued") || !strings.Contains(logs, "refused") {
		t.Fatalf("the handler logged nothing useful:\n%s", logs)
	}
	if !strings.Contains(logs, a.Handle) {
		t.Fatal("the log does not name the workload by its handle")
	}
	e.secrets.CheckLog(t, logs, 8)
	if strings.Contains(logs, "eyJ") {
		t.Error("something JWT-like is in the log")
	}
	if t.Failed() {
		t.Logf("log:\n%s", RedactPath(logs))
	}
}

// TestRedactPath covers the helper integrators use for access logs.
func TestRedactPath(t *testing.T) {
	t.Parallel()
	id := strings.Repeat("a1", 32)
	for in, want := range map[string]string{
		"/msi/" + id + "/token?resource=x":               "/msi/{id}/token",
		"/msi/" + id + "/metadata/identity/oauth2/token": "/msi/{id}/metadata/identity/oauth2/token",
		"/msi/x/../" + id + "/token":                     "/msi/x/../{id}/token",
		"/metadata/identity/oauth2/token":                "/metadata/identity/oauth2/token",
		"/msi/deadbeef/token":                            "/msi/deadbeef/token",
	} {
		if got := RedactPath(in); got != want {
			t.Errorf("RedactPath(%q) = %q, want %q", in, got, want)
		}
	}
	if !OwnsPath("/msi/x/token") || !OwnsPath(IMDSPath) || OwnsPath("/subscriptions") {
		t.Error("OwnsPath")
	}
}
