package endpoint

import (
	"context"
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
		if status, err := p.authorizeScoring(r, ep); err != nil {
			if status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="endpoint"`)
			}
			scoringError(w, status, err.Error())
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
		if _, err := ml.LoadResource(r.Context(), p.Store, depID); err != nil {
			// A client error, not 503: clients retry 5xx for minutes.
			scoringError(w, http.StatusNotFound, fmt.Sprintf("Endpoint %s has no deployment named %q (amlid ml online-deployment list --endpoint-name %s).", ep.Name, dep, ep.Name))
			return
		}
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

// ScoreAction is the action aad_token scoring needs on the endpoint
// (rule EP-6).
const ScoreAction = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/score/action"

// mlAudience is the resource of Azure ML's data plane (scoring tokens).
const mlAudience = "https://ml.azure.com"

// authorizeScoring checks the bearer credential of a scoring request
// against the endpoint's auth mode. It answers the HTTP status of a refusal:
// 401 for a missing or invalid credential, 403 when a valid Entra token's
// principal lacks the score action (rule EP-6).
func (p *Provider) authorizeScoring(r *http.Request, ep *arm.Resource) (int, error) {
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || tok == "" {
		return http.StatusUnauthorized, errors.New("Scoring needs 'Authorization: Bearer <key or token>' (amlid ml online-endpoint get-credentials).")
	}
	switch ep.StringProp("authMode") {
	case "Key":
		k := endpointKeys(ep)
		for _, name := range []string{"primaryKey", "secondaryKey"} {
			if v, _ := k[name].(string); v != "" && subtle.ConstantTimeCompare([]byte(v), []byte(tok)) == 1 {
				return 0, nil
			}
		}
		return http.StatusUnauthorized, errors.New("The key is not one of the endpoint's keys (amlid ml online-endpoint get-credentials).")
	case "AMLToken":
		if err := verifyAMLToken(ep, tok, time.Now()); err != nil {
			return http.StatusUnauthorized, fmt.Errorf("The aml_token is not valid: %v (amlid ml online-endpoint get-credentials).", err)
		}
		return 0, nil
	default: // AADToken
		return p.authorizeEntraScoring(r, ep, tok)
	}
}

// authorizeEntraScoring is rule EP-6: an Entra token for https://ml.azure.com
// of the endpoint's tenant (ID-2, ID-4), whose principal holds the score
// action on the endpoint (RBAC-4 names the roles that grant it).
func (p *Provider) authorizeEntraScoring(r *http.Request, ep *arm.Resource, tok string) (int, error) {
	if p.Tokens == nil || p.Authz == nil {
		return http.StatusUnauthorized, errors.New("aad_token endpoints are not served")
	}
	ctx := r.Context()
	tenant, err := p.endpointTenant(ctx, ep)
	if err != nil {
		return http.StatusUnauthorized, fmt.Errorf("rule EP-6: the tenant of endpoint %s is unknown: %v", ep.Name, err)
	}
	c, err := p.Tokens.VerifyForTenant(ctx, tok, tenant, mlAudience, mlAudience+"/")
	if err != nil {
		return http.StatusUnauthorized, fmt.Errorf("rule EP-6: the Entra token is not valid for endpoint %s (an access token for %s/.default of tenant %s): %v",
			ep.Name, mlAudience, tenant, err)
	}
	d, err := p.Authz.AuthorizeAction(ctx, tenant, c.ObjectID, ScoreAction, ep.ID)
	if err != nil {
		return http.StatusInternalServerError, errors.New("amlid could not evaluate the role assignments")
	}
	if d.Allowed {
		return 0, nil
	}
	msg := "rule EP-6: " + d.Reason()
	if len(d.GrantingRoles) > 0 {
		msg += fmt.Sprintf(" Fix: amlid role assignment create --assignee-object-id %s --role %q --scope %s", c.ObjectID, d.GrantingRoles[0], ep.ID)
	}
	return http.StatusForbidden, errors.New(msg)
}

// endpointTenant is the tenant of the subscription that holds ep.
func (p *Provider) endpointTenant(ctx context.Context, ep *arm.Resource) (string, error) {
	id, err := arm.ParseID(ep.ID)
	if err != nil {
		return "", err
	}
	if p.Directory != nil {
		if sub, err := p.Directory.Subscription(ctx, id.Subscription); err == nil && sub.TenantID != "" {
			return sub.TenantID, nil
		}
	}
	if ep.Identity != nil && ep.Identity.TenantID != "" {
		return ep.Identity.TenantID, nil
	}
	return "", fmt.Errorf("subscription %s is not in the directory", id.Subscription)
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
