package job

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
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

// logName is the log file Azure's common runtime names (user_logs/std_log.txt).
const logName = "user_logs/std_log.txt"

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
