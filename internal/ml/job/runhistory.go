package job

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/ml"
)

// The workspace's discovery URL and the run-history API that azure-ai-ml
// 1.4.0's ml_client.jobs.stream polls, served under Azure's host name
// {region}.api.azureml.ms (amlid's proxy, internal/azurehost):
//
//   - GET /discovery: {"api": …, "history": …} (no token, as Azure);
//   - GET /history/v1.0/subscriptions/…/workspaces/{ws}/runs/{job}/details:
//     the job's status, error and logFiles (a Resource Manager token of a
//     caller who may read the job, workspaces/jobs/read);
//   - GET the logFiles URLs: user_logs/std_log.txt, self-authorising as
//     Azure's SAS URLs are (an HMAC signature valid for an hour, keyed per
//     amlid process).
const logURLTTL = time.Hour

// RunHistoryHandler serves discovery and run history; authn authenticates
// Resource Manager tokens (the front door's).
func (p *Provider) RunHistoryHandler(authn func(*http.Request) (*arm.Caller, error)) http.Handler {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sign := func(jobID string, exp int64) string {
		m := hmac.New(sha256.New, key)
		fmt.Fprintf(m, "%s\n%d", strings.ToLower(jobID), exp)
		return hex.EncodeToString(m.Sum(nil))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		base := "https://" + r.Host
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/rundata") {
			p.runData(w, r, authn)
			return
		}
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/data/v1.0/") && strings.HasSuffix(r.URL.Path, "/dataversion/batchGetResolvedUris") {
			p.resolveOutputAssets(w, r, authn)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			arm.WriteError(w, arm.Errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "amlid's run history answers GET only."))
			return
		}
		if r.URL.Path == "/discovery" {
			writeJSON(w, http.StatusOK, map[string]string{"api": base, "history": base, "experimentation": base,
				"catalog": base, "cert": base, "modelmanagement": base, "pipelines": base, "studiocoreservices": base})
			return
		}
		rest, ok := strings.CutPrefix(r.URL.Path, "/history/v1.0")
		if !ok {
			arm.WriteError(w, arm.Errorf(http.StatusNotFound, "NotFound", "amlid serves /discovery and the run history (/history/v1.0/…/runs/{job}/details) here, nothing at '%s'.", r.URL.Path))
			return
		}
		wsPart, after, ok := strings.Cut(rest, "/runs/")
		runID, tail, _ := strings.Cut(after, "/")
		wsID, err := arm.ParseID(wsPart)
		if !ok || err != nil || runID == "" || !strings.EqualFold(wsID.TypeName(), catalog.TypeWorkspace) {
			arm.WriteError(w, arm.Errorf(http.StatusNotFound, "NotFound", "'%s' is not /history/v1.0/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.MachineLearningServices/workspaces/{ws}/runs/{job}/details.", r.URL.Path))
			return
		}
		jobID := wsID.String() + "/jobs/" + runID
		switch {
		case tail == "details":
			c, err := authn(r)
			if err != nil {
				arm.WriteError(w, arm.AsError(err))
				return
			}
			d, err := p.Authz.Check(r.Context(), c.TenantID, c.ObjectID, catalog.JobRead, false, jobID)
			if err != nil {
				arm.WriteError(w, arm.AsError(err))
				return
			}
			if !d.Allowed {
				arm.WriteError(w, arm.Errorf(http.StatusForbidden, "AuthorizationFailed",
					"The client with object id '%s' does not have authorization to perform action '%s' over scope '%s'. Grant it a role that holds the action (e.g. AzureML Data Scientist or Reader on the workspace).",
					c.ObjectID, catalog.JobRead, jobID))
				return
			}
			job, err := ml.LoadResource(r.Context(), p.Store, jobID)
			if err != nil || !strings.EqualFold(job.Type, Type) {
				arm.WriteError(w, arm.Errorf(http.StatusNotFound, "ResourceNotFound", "The job '%s' was not found in workspace %s.", runID, wsID))
				return
			}
			exp := time.Now().Add(logURLTTL).Unix()
			logURL := base + "/history/v1.0" + wsID.String() + "/runs/" + url.PathEscape(job.Name) + "/logs/" + logName +
				"?se=" + strconv.FormatInt(exp, 10) + "&sig=" + sign(job.ID, exp)
			status := str(job.Properties["status"])
			det := map[string]any{"runId": job.Name, "status": status, "target": job.Properties["computeId"],
				"logFiles": map[string]string{logName: logURL}, "warnings": []any{}}
			if t := str(job.Properties["endTime"]); t != "" {
				det["endTimeUtc"] = t
			}
			if status == Failed {
				det["error"] = map[string]any{"error": map[string]any{"code": "UserError", "message": str(job.Properties["amlidMessage"])}}
			}
			writeJSON(w, http.StatusOK, det)
		case tail == "children":
			job, ok := p.readableJob(w, r, authn, wsID, runID)
			if !ok {
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"value": childRuns(job)})
		case tail == "logs/"+logName:
			q := r.URL.Query()
			exp, _ := strconv.ParseInt(q.Get("se"), 10, 64)
			job, err := ml.LoadResource(r.Context(), p.Store, jobID)
			if err != nil || exp < time.Now().Unix() || !hmac.Equal([]byte(q.Get("sig")), []byte(sign(job.ID, exp))) {
				arm.WriteError(w, arm.Errorf(http.StatusForbidden, "AuthenticationFailed", "This log URL is not valid or has expired: get a new one from the run's details."))
				return
			}
			content, _ := readLog(p.jobDir(job.ID))
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write([]byte(content))
		default:
			arm.WriteError(w, arm.Errorf(http.StatusNotFound, "NotFound", "amlid's run history serves …/runs/{job}/details and the log files it lists, not '%s'.", tail))
		}
	})
}

// runData answers POST /history/v1.0/…/workspaces/{ws}/rundata
// ({"runId": …}), which ml_client.jobs.download reads for the run's
// registered output assets. amlid registers none: the SDK then finds the
// logs in workspaceartifactstore (ExperimentRun/dcid.<job>/) and named
// outputs in the default datastore (azureml/<job>/<output>/), where the job
// left them (artifacts.go).
func (p *Provider) runData(w http.ResponseWriter, r *http.Request, authn func(*http.Request) (*arm.Caller, error)) {
	rest, _ := strings.CutPrefix(r.URL.Path, "/history/v1.0")
	wsID, err := arm.ParseID(strings.TrimSuffix(rest, "/rundata"))
	if err != nil || !strings.EqualFold(wsID.TypeName(), catalog.TypeWorkspace) {
		arm.WriteError(w, arm.Errorf(http.StatusNotFound, "NotFound", "'%s' is not /history/v1.0/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.MachineLearningServices/workspaces/{ws}/rundata.", r.URL.Path))
		return
	}
	var req struct {
		RunID string `json:"runId"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil || req.RunID == "" {
		arm.WriteError(w, arm.Errorf(http.StatusBadRequest, "UserError", "The body must be JSON with the run's ID: {\"runId\": \"<job name>\"}."))
		return
	}
	job, ok := p.readableJob(w, r, authn, wsID, req.RunID)
	if !ok {
		return
	}
	// Each output the job wrote somewhere (a path of its own, or the
	// default datastore's azureml/<job>/<output>/) as an asset reference
	// that batchGetResolvedUris turns back into its URI.
	outs := map[string]any{}
	if m, ok := job.Properties["outputs"].(map[string]any); ok {
		for name, v := range m {
			o, _ := v.(map[string]any)
			if str(o["uri"]) == "" {
				continue
			}
			outs[name] = map[string]any{"assetId": outputAssetID(job.ID, name), "type": assetType(str(o["jobOutputType"]))}
		}
	}
	meta := map[string]any{"runId": job.Name, "status": str(job.Properties["status"]), "outputs": outs}
	if t := str(job.Properties["endTime"]); t != "" {
		meta["endTimeUtc"] = t
	}
	writeJSON(w, http.StatusOK, map[string]any{"runMetadata": meta})
}

// assetType is run history's name for an output's type (the SDK downloads
// UriFile, UriFolder and MLTable outputs).
func assetType(jobOutputType string) string {
	switch strings.ToLower(strings.ReplaceAll(jobOutputType, "_", "")) {
	case "urifile":
		return "UriFile"
	case "mltable":
		return "MLTable"
	case "mlflowmodel":
		return "MLFlowModel"
	case "custommodel":
		return "CustomModel"
	}
	return "UriFolder"
}

// outputAssetID names a job's output as an asset: amlid registers no data
// asset for it; batchGetResolvedUris resolves the name to the output's URI.
func outputAssetID(jobID, output string) string {
	return "azureml://amlid/jobs" + jobID + "/outputs/" + output
}

// resolveOutputAssets answers POST /data/v1.0/…/workspaces/{ws}/dataversion/
// batchGetResolvedUris ({"values": [asset IDs]}) for the output asset IDs
// runData lists, to a caller who may read the jobs: {"values": {id: {"uri",
// "type"}}}. IDs it does not know are left out, as the SDK expects of
// missing outputs.
func (p *Provider) resolveOutputAssets(w http.ResponseWriter, r *http.Request, authn func(*http.Request) (*arm.Caller, error)) {
	rest := strings.TrimPrefix(r.URL.Path, "/data/v1.0")
	wsID, err := arm.ParseID(strings.TrimSuffix(rest, "/dataversion/batchGetResolvedUris"))
	if err != nil || !strings.EqualFold(wsID.TypeName(), catalog.TypeWorkspace) {
		arm.WriteError(w, arm.Errorf(http.StatusNotFound, "NotFound", "'%s' is not /data/v1.0/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.MachineLearningServices/workspaces/{ws}/dataversion/batchGetResolvedUris.", r.URL.Path))
		return
	}
	var req struct {
		Values []string `json:"values"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		arm.WriteError(w, arm.Errorf(http.StatusBadRequest, "UserError", "The body must be JSON: {\"values\": [<asset IDs>]}."))
		return
	}
	out := map[string]any{}
	prefix := strings.ToLower("azureml://amlid/jobs" + wsID.String() + "/jobs/")
	for _, id := range req.Values {
		if !strings.HasPrefix(strings.ToLower(id), prefix) {
			continue
		}
		jobName, output, ok := strings.Cut(id[len(prefix):], "/outputs/")
		if !ok || jobName == "" || strings.Contains(jobName, "/") {
			continue
		}
		job, ok := p.readableJob(w, r, authn, wsID, jobName)
		if !ok {
			return
		}
		outs, _ := job.Properties["outputs"].(map[string]any)
		o, _ := outs[output].(map[string]any)
		if u := str(o["uri"]); u != "" {
			out[id] = map[string]any{"uri": u, "type": firstNonEmpty(str(o["jobOutputType"]), "uri_folder")}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"values": out})
}

// readableJob authenticates the caller, checks workspaces/jobs/read on the
// job and loads it; on failure it has written the error.
func (p *Provider) readableJob(w http.ResponseWriter, r *http.Request, authn func(*http.Request) (*arm.Caller, error), wsID arm.ID, runID string) (*arm.Resource, bool) {
	jobID := wsID.String() + "/jobs/" + runID
	c, err := authn(r)
	if err != nil {
		arm.WriteError(w, arm.AsError(err))
		return nil, false
	}
	d, err := p.Authz.Check(r.Context(), c.TenantID, c.ObjectID, catalog.JobRead, false, jobID)
	if err != nil {
		arm.WriteError(w, arm.AsError(err))
		return nil, false
	}
	if !d.Allowed {
		arm.WriteError(w, arm.Errorf(http.StatusForbidden, "AuthorizationFailed",
			"The client with object id '%s' does not have authorization to perform action '%s' over scope '%s'. Grant it a role that holds the action (e.g. AzureML Data Scientist or Reader on the workspace).",
			c.ObjectID, catalog.JobRead, jobID))
		return nil, false
	}
	job, err := ml.LoadResource(r.Context(), p.Store, jobID)
	if err != nil || !strings.EqualFold(job.Type, Type) {
		arm.WriteError(w, arm.Errorf(http.StatusNotFound, "ResourceNotFound", "The job '%s' was not found in workspace %s.", runID, wsID))
		return nil, false
	}
	return job, true
}

// childRuns are a pipeline job's steps as run history's child runs
// (ml_client.jobs.list(parent_job_name=…)): each step's status, compute,
// and in properties the identity DS-6 chose and its principal. amlid runs
// steps inside the pipeline job, so a child's runId (<job>_<step>) names no
// job of its own. A command job has no children.
func childRuns(job *arm.Resource) []any {
	steps, _ := job.Properties["steps"].([]any)
	out := make([]any, 0, len(steps))
	for _, v := range steps {
		st, _ := v.(map[string]any)
		name := str(st["name"])
		run := map[string]any{"runId": job.Name + "_" + strings.ReplaceAll(name, "/", "_"), "parentRunId": job.Name, "rootRunId": job.Name,
			"displayName": name, "status": str(st["status"]), "runType": "azureml.StepRun",
			"properties": map[string]string{"azureml.nodeid": name, "amlid.identity": str(st["identity"]),
				"amlid.identitySource": str(st["identitySource"]), "amlid.principalId": str(st["principalId"])}}
		if c := str(st["compute"]); c != "" {
			run["compute"] = map[string]any{"target": c[strings.LastIndex(c, "/")+1:]}
		}
		if e := str(st["error"]); e != "" {
			run["error"] = map[string]any{"error": map[string]any{"code": "UserError", "message": e}}
		}
		out = append(out, run)
	}
	return out
}

// logName is the log file Azure's common runtime names (user_logs/std_log.txt).
const logName = "user_logs/std_log.txt"

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
