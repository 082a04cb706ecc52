package endpoint

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/hostport"
	"github.com/amlid/amlid/internal/ml"
	"github.com/amlid/amlid/internal/runtime"
)

// maxScoringBody bounds a scoring request (Azure's limit is 100 MB; amlid
// runs on a laptop).
const maxScoringBody = 32 << 20

// ScoringHandler serves every endpoint's scoring URI (hostport kind
// "endpoint"): POST /score with the endpoint's key (auth_mode key) or an
// aml_token (rule EP-5), routed to a deployment by the
// azureml-model-deployment header or by the traffic split.
func (p *Provider) ScoringHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tg, ok := hostport.Resource(r.Context())
		if !ok {
			http.Error(w, "no endpoint", http.StatusNotFound)
			return
		}
		ep, err := ml.LoadResource(r.Context(), p.Store, tg.ID)
		if err != nil {
			scoringError(w, http.StatusNotFound, "The endpoint no longer exists.")
			return
		}
		if r.Method == http.MethodGet && (r.URL.Path == "/" || r.URL.Path == "") {
			w.Write([]byte("Healthy\n"))
			return
		}
		if err := p.authorizeScoring(r, ep); err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="endpoint"`)
			scoringError(w, http.StatusUnauthorized, err.Error())
			return
		}
		if r.URL.Path != "/score" {
			scoringError(w, http.StatusNotFound, "Scoring is at POST /score.")
			return
		}
		if r.Method != http.MethodPost {
			scoringError(w, http.StatusMethodNotAllowed, "Scoring takes POST.")
			return
		}
		dep, err := pickDeployment(ep, r.Header.Get("azureml-model-deployment"))
		if err != nil {
			scoringError(w, http.StatusNotFound, err.Error())
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxScoringBody))
		if err != nil {
			scoringError(w, http.StatusRequestEntityTooLarge, "The request body is larger than 32 MiB.")
			return
		}
		depID := ep.ID + "/deployments/" + dep
		status, out, ct, err := p.Runtime.Score(r.Context(), depID, body, r.Header.Get("Content-Type"))
		switch {
		case errors.Is(err, runtime.ErrNotFound), errors.Is(err, runtime.ErrNotReady):
			scoringError(w, http.StatusServiceUnavailable, fmt.Sprintf("Deployment %s has no ready instance (see `amlid ml online-deployment get-logs --endpoint-name %s --name %s`).", dep, ep.Name, dep))
			return
		case err != nil:
			scoringError(w, http.StatusBadGateway, err.Error())
			return
		}
		if ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		w.Header().Set("azureml-model-deployment", dep)
		w.WriteHeader(status)
		w.Write(out)
	})
}

func scoringError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, "{\"message\": %q}\n", msg)
}

// authorizeScoring checks the bearer credential of a scoring request
// against the endpoint's auth mode.
func (p *Provider) authorizeScoring(r *http.Request, ep *arm.Resource) error {
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || tok == "" {
		return errors.New("Scoring needs 'Authorization: Bearer <key or token>' (amlid ml online-endpoint get-credentials).")
	}
	switch ep.StringProp("authMode") {
	case "Key":
		k := endpointKeys(ep)
		for _, name := range []string{"primaryKey", "secondaryKey"} {
			if v, _ := k[name].(string); v != "" && subtle.ConstantTimeCompare([]byte(v), []byte(tok)) == 1 {
				return nil
			}
		}
		return errors.New("The key is not one of the endpoint's keys (amlid ml online-endpoint get-credentials).")
	case "AMLToken":
		if err := verifyAMLToken(ep, tok, time.Now()); err != nil {
			return fmt.Errorf("The aml_token is not valid: %v (amlid ml online-endpoint get-credentials).", err)
		}
		return nil
	default: // AADToken
		if p.Tokens == nil {
			return errors.New("aad_token endpoints are not served")
		}
		if _, err := p.Tokens.Verify(r.Context(), tok, "https://ml.azure.com", "https://ml.azure.com/"); err != nil {
			return fmt.Errorf("The Entra token is not valid for https://ml.azure.com: %v", err)
		}
		return nil
	}
}

// pickDeployment chooses by header, else by the traffic weights.
func pickDeployment(ep *arm.Resource, header string) (string, error) {
	traffic, _ := ep.Prop("traffic").(map[string]any)
	if header != "" {
		for k := range traffic {
			if strings.EqualFold(k, header) {
				return k, nil
			}
		}
		return header, nil // a deployment with no traffic can still be called by name, as in Azure
	}
	names := make([]string, 0, len(traffic))
	total := 0.0
	for k, v := range traffic {
		if f, _ := v.(float64); f > 0 {
			names = append(names, k)
			total += f
		}
	}
	if total == 0 {
		return "", fmt.Errorf("No valid deployments to route to: endpoint %s sends no traffic to any deployment. Use --all-traffic or `amlid ml online-endpoint update --traffic \"blue=100\"`.", ep.Name)
	}
	sort.Strings(names)
	x := rand.Float64() * total
	for _, n := range names {
		x -= traffic[n].(float64)
		if x < 0 {
			return n, nil
		}
	}
	return names[len(names)-1], nil
}
