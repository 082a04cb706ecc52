package access

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/arm"
)

// ResourceReport is what the analyzer says of one resource.
type ResourceReport struct {
	ID       string    `json:"id"`
	Type     string    `json:"type"`
	Identity *Identity `json:"identity,omitempty"`
	Rules    []string  `json:"rules,omitempty"`
	Findings []Finding `json:"findings"`
	Notes    []string  `json:"notes,omitempty"`
	// SecretReaders lists who can read a credential-based datastore's
	// cached secret (rule DS-2), when the analyzer has a WhoCan index.
	SecretReaders []SecretReader `json:"secretReaders,omitempty"`
	// Error is set when a rule could not be evaluated (a missing identity…).
	Error string `json:"error,omitempty"`
}

// Report is the analyzer's answer.
type Report struct {
	Scope     string           `json:"scope"`
	Resources []ResourceReport `json:"resources"`
	Excess    []Excess         `json:"excessGrants,omitempty"`
	Unmet     int              `json:"unmet"`
	Met       int              `json:"met"`
	Summary   string           `json:"summary"`
}

// OK reports whether every (non-optional) requirement is met, no rule
// failed to evaluate and no identity holds a wider grant than its rules need.
func (r *Report) OK() bool {
	if r.Unmet > 0 || len(r.Excess) > 0 {
		return false
	}
	for _, rr := range r.Resources {
		if rr.Error != "" {
			return false
		}
	}
	return true
}

// Row is one line of the report's table form.
type Row struct {
	Resource string `json:"resource"`
	Rule     string `json:"rule"`
	Identity string `json:"identity"`
	Need     string `json:"need"`
	Status   string `json:"status"`
	Fix      string `json:"fix"`
}

// Rows flattens the report: one row per finding and per excess grant.
func (r *Report) Rows() []Row {
	var out []Row
	for _, rr := range r.Resources {
		for _, f := range rr.Findings {
			st := "met"
			if !f.Met {
				st = "UNMET"
				if f.Optional {
					st = "optional"
				}
			}
			out = append(out, Row{Resource: rr.ID, Rule: f.Rule, Identity: f.Identity.PrincipalID, Need: f.Need(), Status: st, Fix: f.Fix})
		}
		if rr.Error != "" {
			out = append(out, Row{Resource: rr.ID, Status: "ERROR", Need: rr.Error})
		}
		for _, sr := range rr.SecretReaders {
			how := sr.Via
			if sr.Role != "" {
				how += ": " + sr.Role + " at " + sr.AssignmentScope
			} else if sr.Permissions != "" {
				how += ": secrets " + sr.Permissions
			}
			out = append(out, Row{Resource: rr.ID, Rule: "DS-2", Identity: sr.PrincipalID, Need: "can read the cached secret (" + how + ")", Status: "reads-secret"})
		}
	}
	for _, e := range r.Excess {
		out = append(out, Row{Resource: e.Identity.Of, Rule: "least-privilege", Identity: e.Identity.PrincipalID,
			Need: fmt.Sprintf("%s at %s is wider than needed (%s)", e.Role, e.Scope, strings.Join(e.Needed, ", ")), Status: "EXCESS", Fix: e.Fix})
	}
	return out
}

// Analyzer evaluates every rule of every workload under a scope.
type Analyzer struct {
	Src     Lister
	Decider Decider
	// NoExcess turns off the least-privilege pass.
	NoExcess bool
	// WhoCan, when set, indexes the role assignments over the analyzed
	// scope: the report then lists who can read each datastore's cached
	// secret (SecretReaders).
	WhoCan *WhoCanIndex

	cache map[string]Finding
}

// workloadTypes are the resource types the analyzer walks, parents first;
// each entry's children are listed under each of its resources.
var workloadTypes = []struct {
	typ      string
	children []string
}{
	{catalog.TypeWorkspace, []string{catalog.TypeOnlineEndpoint, catalog.TypeCompute, catalog.TypeDatastore, catalog.TypeEnvironment}},
	{catalog.TypeDatastore, nil},
	{catalog.TypeEnvironment, []string{catalog.TypeEnvVersion}},
	{catalog.TypeEnvVersion, nil},
	{catalog.TypeOnlineEndpoint, []string{catalog.TypeDeployment}},
	{catalog.TypeDeployment, nil},
	{catalog.TypeCompute, nil},
}

func childTypes(t string) []string {
	for _, w := range workloadTypes {
		if strings.EqualFold(w.typ, t) {
			return w.children
		}
	}
	return nil
}

// Analyze walks the workspaces under scope (a subscription or a resource
// group) and their endpoints and deployments; or, with resourceID, that one
// resource and its children.
func (a *Analyzer) Analyze(ctx context.Context, scope, resourceID string) (*Report, error) {
	a.cache = map[string]Finding{}
	rep := &Report{Scope: scope}
	var roots []*arm.Resource
	if resourceID != "" {
		r, err := a.Src.Get(ctx, resourceID)
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, resourceID)
		}
		if err != nil {
			return nil, err
		}
		roots = []*arm.Resource{r}
		rep.Scope = r.ID
	} else {
		ws, err := a.Src.List(ctx, scope, catalog.TypeWorkspace)
		if err != nil {
			return nil, err
		}
		roots = ws
	}
	sortResources(roots)
	for _, r := range roots {
		if err := a.walk(ctx, rep, r, nil); err != nil {
			return nil, err
		}
	}
	if !a.NoExcess {
		ex, err := a.excess(ctx, rep)
		if err != nil {
			return nil, err
		}
		rep.Excess = ex
	}
	for _, rr := range rep.Resources {
		for _, f := range rr.Findings {
			switch {
			case f.Met:
				rep.Met++
			case !f.Optional:
				rep.Unmet++
			}
		}
	}
	rep.Summary = fmt.Sprintf("%d resources, %d requirements met, %d unmet, %d grants wider than needed.", len(rep.Resources), rep.Met, rep.Unmet, len(rep.Excess))
	return rep, nil
}

func sortResources(rs []*arm.Resource) {
	sort.SliceStable(rs, func(i, j int) bool { return strings.ToLower(rs[i].ID) < strings.ToLower(rs[j].ID) })
}

// walk reports r, then its children. A deployment inherits its endpoint's
// findings (it runs as the endpoint identity).
func (a *Analyzer) walk(ctx context.Context, rep *Report, r *arm.Resource, parent *ResourceReport) error {
	rr := ResourceReport{ID: r.ID, Type: r.Type, Findings: []Finding{}}
	if id, ok := Acting(r); ok {
		rr.Identity = &id
	}
	if strings.EqualFold(r.Type, catalog.TypeDeployment) && parent != nil {
		rr.Identity, rr.Rules = parent.Identity, parent.Rules
		rr.Notes = append(rr.Notes, "runs as its endpoint's identity: "+parent.ID)
	}
	for _, rule := range RulesFor(r.Type) {
		res, err := rule.Eval(ctx, a.Src, r)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			rr.Error = err.Error()
			continue
		}
		rr.Rules = append(rr.Rules, rule.ID)
		rr.Notes = append(rr.Notes, res.Notes...)
		for _, q := range res.Requirements {
			f, err := a.evaluate(ctx, q)
			if err != nil {
				return err
			}
			rr.Findings = append(rr.Findings, f)
		}
	}
	if a.WhoCan != nil && strings.EqualFold(r.Type, catalog.TypeDatastore) {
		readers, notes, err := SecretReaders(ctx, a.Src, a.WhoCan, r)
		if err != nil {
			return err
		}
		rr.SecretReaders = readers
		if len(readers) > 0 {
			notes = append(notes, fmt.Sprintf("%d principal(s) can read datastore %s's cached secret (rule DS-2).", len(Principals(readersAsGrants(readers))), r.Name))
		}
		rr.Notes = append(rr.Notes, notes...)
	}
	rep.Resources = append(rep.Resources, rr)
	self := &rep.Resources[len(rep.Resources)-1]
	for _, ct := range childTypes(r.Type) {
		kids, err := a.Src.List(ctx, r.ID, ct)
		if err != nil {
			return err
		}
		sortResources(kids)
		for _, k := range kids {
			if err := a.walk(ctx, rep, k, self); err != nil {
				return err
			}
			self = findReport(rep, r.ID)
		}
	}
	return nil
}

func findReport(rep *Report, id string) *ResourceReport {
	for i := len(rep.Resources) - 1; i >= 0; i-- {
		if rep.Resources[i].ID == id {
			return &rep.Resources[i]
		}
	}
	return nil
}

// evaluate decides a requirement once per (identity, kind, action, scope,
// permissions): many endpoints share one identity and one storage.
func (a *Analyzer) evaluate(ctx context.Context, q Requirement) (Finding, error) {
	k := strings.ToLower(strings.Join([]string{q.Identity.PrincipalID, q.Kind, q.Action, fmt.Sprint(q.DataAction), q.Scope, strings.Join(q.SecretPermissions, ",")}, "|"))
	if f, ok := a.cache[k]; ok {
		f.Requirement = q
		return f, nil
	}
	f, err := Evaluate(ctx, a.Decider, a.Src, q)
	if err != nil {
		return f, err
	}
	a.cache[k] = f
	return f, nil
}
