package job

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/amlid/amlid/internal/directory"
)

// The on-behalf-of endpoint of user-identity jobs: code in the job gets the
// submitting user's token through azure-ai-ml's AzureMLOnBehalfOfCredential,
// which sends GET $OBO_ENDPOINT?resource=R with no other credential. The URL
// carries a random per-job secret, valid only while the job runs (the job
// carries its user's identity for its lifetime only); RBAC decides each use
// of the token, so removing the user's role fails the job's next read.
type oboServer struct {
	p        *Provider
	ln       net.Listener
	srv      *http.Server
	mu       sync.Mutex
	sessions map[string]*directory.Principal // secret → user
}

func (p *Provider) startOBO() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	o := &oboServer{p: p, ln: ln, sessions: map[string]*directory.Principal{}}
	o.srv = &http.Server{Handler: o, ReadHeaderTimeout: 10 * time.Second}
	go o.srv.Serve(ln)
	p.obo = o
	return nil
}

func (o *oboServer) stop() {
	if o != nil {
		o.srv.Close()
	}
}

// open starts a session for a user and returns its endpoint URL.
func (o *oboServer) open(user *directory.Principal) (string, func()) {
	b := make([]byte, 24)
	rand.Read(b)
	secret := hex.EncodeToString(b)
	o.mu.Lock()
	o.sessions[secret] = user
	o.mu.Unlock()
	url := "http://127.0.0.1:" + strconv.Itoa(o.ln.Addr().(*net.TCPAddr).Port) + "/obo/" + secret
	return url, func() {
		o.mu.Lock()
		delete(o.sessions, secret)
		o.mu.Unlock()
	}
}

func (o *oboServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(code int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]any{"error": "invalid_request", "error_description": msg})
	}
	secret, ok := strings.CutPrefix(r.URL.Path, "/obo/")
	if r.Method != http.MethodGet || !ok || secret == "" || strings.Contains(secret, "/") {
		fail(http.StatusNotFound, "amlid serves GET /obo/<job session>?resource=<resource> here (OBO_ENDPOINT of a user-identity job).")
		return
	}
	o.mu.Lock()
	user := o.sessions[secret]
	o.mu.Unlock()
	if user == nil {
		fail(http.StatusUnauthorized, "This on-behalf-of session is not open: it lives only while its user-identity job runs.")
		return
	}
	resource := r.URL.Query().Get("resource")
	if resource == "" {
		fail(http.StatusBadRequest, "The resource parameter is required.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	t, err := o.p.Tokens.IssueOnBehalfOf(ctx, user, azureMLAppID, resource)
	if err != nil {
		fail(http.StatusBadRequest, err.Error())
		return
	}
	exp := t.ExpiresOn.Unix()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"access_token": t.Token, "expires_on": strconv.FormatInt(exp, 10),
		"expires_in": strconv.FormatInt(exp-time.Now().Unix(), 10), "resource": resource, "token_type": "Bearer"})
}
