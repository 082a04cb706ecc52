package access

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/arm"
)

// Pipeline rule (issue 20, item 6): DS-6 resolves the identity of each step
// of a pipeline job; DS-5 then says what that identity needs for the
// step's inputs.

func init() {
	Rules = append(Rules, Rule{ID: "DS-6", Type: catalog.TypeJob, Eval: DS6,
		Summary: "in a pipeline job a step's identity overrides the pipeline's; inside a pipeline component only the step's identity counts (else the compute's identity reads); each step's reader needs Storage Blob Data Reader on the storage of its inputs"})
}

// StepIdentity is rule DS-6: the identity (properties.identity, REST shape)
// a pipeline step runs with, and where it comes from: "step" (the step sets
// one: it wins), "pipeline" (inherited from the root, outside components
// only) or "compute" (none: DS-5 falls back to the compute's identity).
//
// Either may be in the REST shape (identityType) or, as azure-ai-ml sends
// a pipeline's nodes, in the node shape (type: user_identity, …): the
// result is in the REST shape.
func StepIdentity(step, root map[string]any, inComponent bool) (map[string]any, string) {
	if step != nil {
		step = JobIdentity(step)
	}
	if root != nil {
		root = JobIdentity(root)
	}
	if t, _ := step["identityType"].(string); t != "" {
		return step, "step"
	}
	if t, _ := root["identityType"].(string); t != "" && !inComponent {
		return root, "pipeline"
	}
	return nil, "compute"
}

var parentInput = regexp.MustCompile(`^\$\{\{\s*parent\.inputs\.([A-Za-z0-9_-]+)\s*\}\}$`)

// DS6 evaluates DS-5 for each command step of a pipeline job, with the
// identity DS-6 resolves and the step's inputs bound to the pipeline's.
func DS6(ctx context.Context, src Source, job *arm.Resource) (Result, error) {
	var res Result
	if !strings.EqualFold(job.StringProp("jobType"), "Pipeline") {
		return res, nil
	}
	wsID, err := parentID(job.ID)
	if err != nil {
		return res, err
	}
	rootIns, _ := job.Prop("inputs").(map[string]any)
	rootID, _ := job.Prop("identity").(map[string]any)
	settings, _ := job.Prop("settings").(map[string]any)
	def, _ := settings["default_compute"].(string)
	if def == "" {
		def = job.StringProp("computeId") // azure-ai-ml sends the pipeline's compute there
	}
	// parentIns are what ${{parent.inputs.x}} names at a level: the root's
	// inputs; inside a component registered on its own (azure-ai-ml's
	// componentId), the inputs its step binds.
	var walk func(jobs map[string]any, level string, inComp bool, parentIns map[string]any) error
	walk = func(jobs map[string]any, level string, inComp bool, parentIns map[string]any) error {
		names := make([]string, 0, len(jobs))
		for n := range jobs {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, name := range names {
			step, _ := jobs[name].(map[string]any)
			if t, _ := step["type"].(string); strings.EqualFold(t, "pipeline") {
				sub, _ := step["jobs"].(map[string]any)
				subIns := parentIns
				if cid, _ := step["componentId"].(string); sub == nil && cid != "" {
					c, err := src.Get(ctx, strings.TrimPrefix(cid, "azureml:"))
					if err != nil {
						return fmt.Errorf("rule DS-6, step %s: its component %s: %v", level+name, cid, err)
					}
					spec, _ := c.Prop("componentSpec").(map[string]any)
					sub, _ = spec["jobs"].(map[string]any)
					subIns = map[string]any{}
					stepIns, _ := step["inputs"].(map[string]any)
					for in, v := range stepIns {
						m, _ := v.(map[string]any)
						val, _ := m["value"].(string)
						if b := parentInput.FindStringSubmatch(strings.TrimSpace(val)); b != nil {
							subIns[in] = parentIns[b[1]]
						} else {
							subIns[in] = m
						}
					}
				}
				if err := walk(sub, level+name+"/", true, subIns); err != nil {
					return err
				}
				continue
			}
			comp, _ := step["computeId"].(string)
			comp = strings.TrimPrefix(firstNonEmptyStr(comp, def), "azureml:")
			if comp != "" && !strings.HasPrefix(comp, "/") {
				comp = wsID + "/computes/" + comp
			}
			sid, _ := step["identity"].(map[string]any)
			idm, source := StepIdentity(sid, rootID, inComp)
			ins := map[string]any{}
			stepIns, _ := step["inputs"].(map[string]any)
			for in, v := range stepIns {
				m, _ := v.(map[string]any)
				val, _ := m["value"].(string)
				if b := parentInput.FindStringSubmatch(strings.TrimSpace(val)); b != nil {
					ins[in] = parentIns[b[1]]
				} else {
					ins[in] = m
				}
			}
			props := map[string]any{"jobType": "Command", "computeId": comp, "inputs": ins, "amlidSubmittedBy": job.Prop("amlidSubmittedBy")}
			if idm != nil {
				props["identity"] = idm
			}
			r5, err := DS5(ctx, src, &arm.Resource{ID: job.ID, Name: job.Name, Type: job.Type, Properties: props})
			if err != nil {
				return fmt.Errorf("rule DS-6, step %s: %v", level+name, err)
			}
			for _, q := range r5.Requirements {
				if q.Kind != KindSubnet { // the network stays DS-8
					q.Rule = "DS-6"
				}
				q.Why = fmt.Sprintf("step %s (identity from the %s, DS-6): %s", level+name, source, q.Why)
				res.Requirements = append(res.Requirements, q)
			}
			for _, n := range r5.Notes {
				res.Notes = append(res.Notes, "step "+level+name+": "+n)
			}
		}
		return nil
	}
	jobs, _ := job.Prop("jobs").(map[string]any)
	return res, walk(jobs, "", false, rootIns)
}

func firstNonEmptyStr(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// JobIdentity turns a node's identity ({type: user_identity |
// managed_identity | aml_token, client_id, object_id, msi_resource_id}) into
// the REST shape (identityType: UserIdentity | Managed | AMLToken, clientId,
// objectId, resourceId). A REST-shaped identity is returned as it is.
func JobIdentity(m map[string]any) map[string]any {
	if strOf(m["identityType"]) != "" {
		return m
	}
	out := map[string]any{}
	switch t := strings.ToLower(strings.ReplaceAll(strOf(m["type"]), "_", "")); t {
	case "useridentity":
		out["identityType"] = "UserIdentity"
	case "managedidentity", "managed":
		out["identityType"] = "Managed"
	case "amltoken":
		out["identityType"] = "AMLToken"
	case "":
		return nil
	default:
		out["identityType"] = strOf(m["type"]) // kept for the caller to refuse by name
	}
	for k, keys := range map[string][]string{"clientId": {"client_id", "clientId"}, "objectId": {"object_id", "objectId"},
		"resourceId": {"msi_resource_id", "resource_id", "resourceId"}} {
		for _, key := range keys {
			if v := strOf(m[key]); v != "" {
				out[k] = v
				break
			}
		}
	}
	return out
}

func strOf(v any) string { s, _ := v.(string); return s }
