package compute

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/amlid/amlid/internal/access"
	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/msi"
	"github.com/google/uuid"
)

// operation is a start/stop/restart, polled through
// …/providers/Microsoft.MachineLearningServices/locations/{l}/computeOperationsStatus/{id}.
type operation struct {
	ID, Compute, Name, Status string
	Start, End                time.Time
}

// accepted answers an operation as Azure does: 202 with Location and
// Azure-AsyncOperation to poll (both clients follow them to Succeeded).
func (p *Provider) accepted(c *arm.Call, r *arm.Resource, name string) (int, any, error) {
	h := p.operationHeaders(c, r, name)
	h.Set("Location", h.Get("Azure-AsyncOperation"))
	return http.StatusAccepted, &arm.ActionResponse{Header: h}, nil
}

// writeHeaders gives a compute's PUT the Azure-AsyncOperation Azure
// answers with; the clients poll it, then read the compute afresh.
func (p *Provider) writeHeaders(c *arm.Call, r *arm.Resource) http.Header {
	return p.operationHeaders(c, r, "CreateOrUpdate")
}

// operationHeaders records a completed operation and returns the header
// that polls it.
func (p *Provider) operationHeaders(c *arm.Call, r *arm.Resource, name string) http.Header {
	op := &operation{ID: uuid.NewString(), Compute: r.ID, Name: name, Status: "Succeeded", Start: time.Now().UTC(), End: time.Now().UTC()}
	p.mu.Lock()
	for k, o := range p.ops { // operations are kept for an hour, as Azure's
		if time.Since(o.End) > time.Hour {
			delete(p.ops, k)
		}
	}
	p.ops[op.ID] = op
	p.mu.Unlock()
	id, _ := arm.ParseID(r.ID)
	loc := r.Location
	if loc == "" {
		loc = "local"
	}
	u := fmt.Sprintf("%s/subscriptions/%s/providers/%s/locations/%s/computeOperationsStatus/%s?api-version=%s",
		c.BaseURL, id.Subscription, id.Namespace, url.PathEscape(loc), op.ID, url.QueryEscape(c.APIVersion))
	h := http.Header{}
	h.Set("Azure-AsyncOperation", u)
	h.Set("Retry-After", "0")
	return h
}

// serveOperationStatus answers GET …/locations/{l}/computeOperationsStatus/{id}.
func (p *Provider) serveOperationStatus(w http.ResponseWriter, c *arm.Call, sub string, rest []string) error {
	if len(rest) != 4 || !strings.EqualFold(rest[2], "computeOperationsStatus") || c.R.Method != http.MethodGet {
		return arm.Errorf(http.StatusNotFound, "NotFound", "No Resource Manager operation matches '%s'.", c.R.URL.Path)
	}
	p.mu.Lock()
	op := p.ops[rest[3]]
	p.mu.Unlock()
	if op == nil || !strings.HasPrefix(strings.ToLower(op.Compute), "/subscriptions/"+strings.ToLower(sub)+"/") {
		return arm.Errorf(http.StatusNotFound, "OperationNotFound", "Operation '%s' was not found.", rest[3])
	}
	arm.WriteJSON(w, http.StatusOK, map[string]any{"id": c.R.URL.Path, "name": op.ID, "status": op.Status,
		"startTime": op.Start.Format(time.RFC3339), "endTime": op.End.Format(time.RFC3339)})
	return nil
}

func onlyInstances(r *arm.Resource, verb string) error {
	if ct := access.ComputeTypeOf(r); ct != ComputeInstance {
		return arm.Errorf(http.StatusBadRequest, "BadRequest", "Compute %s is a %s: only compute instances can %s (a cluster scales between min_instances and max_instances by itself).", r.Name, ct, verb)
	}
	return nil
}

// update changes a stored compute in a transaction (ml's UpdateResource)
// and returns it as written.
func (p *Provider) update(ctx context.Context, id string, fn func(cur *arm.Resource) error) (*arm.Resource, error) {
	var out *arm.Resource
	err := p.UpdateResource(ctx, id, func(cur *arm.Resource) error {
		if err := fn(cur); err != nil {
			return err
		}
		out = cur
		return nil
	})
	return out, err
}

func inner(r *arm.Resource) map[string]any {
	m, _ := r.Prop("properties").(map[string]any)
	if m == nil {
		m = map[string]any{}
		r.SetProp("properties", m)
	}
	return m
}

func lastOp(name, status, trigger string) map[string]any {
	return map[string]any{"operationName": name, "operationTime": time.Now().UTC().Format(time.RFC3339), "operationStatus": status, "operationTrigger": trigger}
}

// trigger is "IdleShutdown" when the compute's own identity calls (CMP-6),
// else "User".
func trigger(c *arm.Call, r *arm.Resource) string {
	if c != nil && c.Caller != nil {
		for _, id := range access.Identities(r) {
			if strings.EqualFold(id.PrincipalID, c.Caller.ObjectID) {
				return "IdleShutdown"
			}
		}
	}
	return "User"
}

func (p *Provider) setState(ctx context.Context, c *arm.Call, r *arm.Resource, opName, state string) (*arm.Resource, error) {
	trig := trigger(c, r)
	out, err := p.update(ctx, r.ID, func(cur *arm.Resource) error {
		in := inner(cur)
		in["state"] = state
		in["lastOperation"] = lastOp(opName, "Succeeded", trig)
		delete(cur.Internal, "idleShutdownRefused")
		return nil
	})
	if err != nil {
		return nil, err
	}
	p.log().Info("compute instance "+strings.ToLower(opName), "compute", r.ID, "trigger", trig)
	return out, nil
}

func (p *Provider) actionStart(ctx context.Context, c *arm.Call, r *arm.Resource, _ []byte) (int, any, error) {
	if err := onlyInstances(r, "start"); err != nil {
		return 0, nil, err
	}
	out, err := p.setState(ctx, c, r, "Start", "Running")
	if err != nil {
		return 0, nil, err
	}
	p.touch(r.ID)
	p.reconcile(out)
	return p.accepted(c, r, "Start")
}

func (p *Provider) actionStop(ctx context.Context, c *arm.Call, r *arm.Resource, _ []byte) (int, any, error) {
	if err := onlyInstances(r, "stop"); err != nil {
		return 0, nil, err
	}
	out, err := p.setState(ctx, c, r, "Stop", "Stopped")
	if err != nil {
		return 0, nil, err
	}
	p.reconcile(out)
	return p.accepted(c, r, "Stop")
}

func (p *Provider) actionRestart(ctx context.Context, c *arm.Call, r *arm.Resource, _ []byte) (int, any, error) {
	if err := onlyInstances(r, "restart"); err != nil {
		return 0, nil, err
	}
	out, err := p.setState(ctx, c, r, "Restart", "Running")
	if err != nil {
		return 0, nil, err
	}
	p.drop(r.ID) // a restart is a fresh machine
	p.reconcile(out)
	return p.accepted(c, r, "Restart")
}

// touch resets a compute's idle clock.
func (p *Provider) touch(id string) {
	p.mu.Lock()
	if st := p.computes[strings.ToLower(id)]; st != nil {
		st.lastActivity = time.Now()
	}
	p.mu.Unlock()
}

// listKeys answers POST …/computes/{c}/listKeys (ComputeSecrets): an
// attached virtual machine's administrator account; the other types have
// no secrets.
func (p *Provider) listKeys(ctx context.Context, c *arm.Call, r *arm.Resource, _ []byte) (int, any, error) {
	out := map[string]any{"computeType": access.ComputeTypeOf(r)}
	if acct, ok := r.Internal["administratorAccount"].(map[string]any); ok {
		out["administratorAccount"] = acct
	}
	return http.StatusOK, out, nil
}

// idleShutdown is rule CMP-6: an idle compute instance stops itself the
// way Azure's agent on the machine does, by asking its managed-identity
// endpoint for an ARM token and calling the compute's stop action with it.
// Without Contributor (computes/stop/action) on the workspace RBAC refuses
// the call: the instance keeps running and shows why.
func (p *Provider) idleShutdown(st *state) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	defer func() {
		p.mu.Lock()
		st.stopping = false
		st.lastActivity = time.Now()
		p.mu.Unlock()
	}()
	p.mu.Lock()
	var env map[string]string
	if len(st.nodes) > 0 && st.nodes[0].wl != nil {
		env = msi.EnvFor(st.nodes[0].wl, p.MSIURL)
	}
	p.mu.Unlock()
	if env == nil {
		return
	}
	refuse := func(why string) {
		p.recordRefusal(ctx, st.id, why)
	}
	tok, err := p.nodeToken(ctx, env)
	if err != nil {
		refuse(err.Error())
		return
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.ARMURL+st.id+"/stop?api-version=2023-04-01", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := p.httpClient().Do(req)
	if err != nil {
		refuse(err.Error())
		return
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK {
		p.log().Info("compute instance stopped itself after its idle time (rule CMP-6)", "compute", st.id)
		return
	}
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	refuse(fmt.Sprintf("%d %s: %s", resp.StatusCode, e.Error.Code, e.Error.Message))
}

func (p *Provider) httpClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.RootCAs}}}
}

// nodeToken gets an ARM token from the node's managed-identity endpoint
// (Azure ML's MSI_ENDPOINT form).
func (p *Provider) nodeToken(ctx context.Context, env map[string]string) (string, error) {
	u := env[msi.EnvMSIEndpoint] + "?resource=" + url.QueryEscape("https://management.azure.com/") + "&api-version=2017-09-01"
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	req.Header.Set("secret", env[msi.EnvMSISecret])
	resp, err := p.httpClient().Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var t struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error_description"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&t)
	if resp.StatusCode != http.StatusOK || t.AccessToken == "" {
		return "", fmt.Errorf("the node's managed-identity endpoint refused a token (%d): %s", resp.StatusCode, t.Error)
	}
	return t.AccessToken, nil
}

// recordRefusal keeps a refused idle shutdown on the compute: its last
// operation failed, and accessNotes say which rule and how to fix it.
func (p *Provider) recordRefusal(ctx context.Context, id, armErr string) {
	src := access.StoreSource(p.Store)
	msg := ""
	if r, err := src.Get(ctx, id); err == nil {
		res, _ := access.CMP6(ctx, src, r)
		if fs, err := access.EvaluateAll(ctx, p.Authz, src, res.Requirements); err == nil {
			if un := access.Unmet(fs); len(un) > 0 {
				msg = access.Refusal("CMP-6", un[0].Identity, un)
			}
		}
		if msg == "" {
			if idn, ok := access.Acting(r); ok {
				wsID := r.ID
				if cid, err := arm.ParseID(r.ID); err == nil {
					wsID = cid.Parent().String()
				}
				msg = fmt.Sprintf("Rule CMP-6: the %s (principal %s) needs %s on %s.\n    %s", idn.Label(), idn.PrincipalID, catalog.Contributor.Name, wsID,
					access.RoleFix(idn.PrincipalID, "ServicePrincipal", catalog.Contributor.Name, wsID))
			}
		}
	}
	msg = "Idle shutdown was refused, so the instance keeps running. " + msg + "\nThe stop call answered: " + armErr
	_, err := p.update(ctx, id, func(cur *arm.Resource) error {
		inner(cur)["lastOperation"] = lastOp("Stop", "Failed", "IdleShutdown")
		cur.Internal["idleShutdownRefused"] = msg
		return nil
	})
	if err != nil {
		p.log().Warn("cannot record a refused idle shutdown", "compute", id, "err", err)
		return
	}
	p.log().Warn("compute instance idle shutdown refused (rule CMP-6)", "compute", id, "reason", armErr)
}
