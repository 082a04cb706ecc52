package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// mlSpec is an `az ml` YAML file (the docs' files as they are), loaded as a
// generic map with the --set overrides applied. Paths inside it (model,
// code, conda_file) are relative to the file's directory, as in azure-ai-ml.
type mlSpec struct {
	m   map[string]any
	dir string // directory of the file ("" without a file)
}

// loadMLSpec reads path (may be "") and applies --set key.path=value
// overrides.
func loadMLSpec(path string, sets []string) (*mlSpec, error) {
	s := &mlSpec{m: map[string]any{}}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, usageErr("cannot read --file: %v", err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(b, &m); err != nil {
			return nil, usageErr("%s is not valid YAML: %v", path, err)
		}
		if m == nil {
			m = map[string]any{}
		}
		s.m = m
		abs, _ := filepath.Abs(path)
		s.dir = filepath.Dir(abs)
	} else if wd, err := os.Getwd(); err == nil {
		s.dir = wd
	}
	for _, set := range sets {
		k, v, ok := strings.Cut(set, "=")
		if !ok || k == "" {
			return nil, usageErr("--set expects key.path=value, not %q", set)
		}
		setPath(s.m, strings.Split(k, "."), parseScalar(v))
	}
	return s, nil
}

// parseScalar reads a --set value as YAML would (numbers, booleans), keeping
// anything else a string.
func parseScalar(v string) any {
	var out any
	if err := yaml.Unmarshal([]byte(v), &out); err != nil || out == nil {
		return v
	}
	switch out.(type) {
	case string, int, float64, bool:
		return out
	}
	return v
}

func setPath(m map[string]any, keys []string, v any) {
	for i, k := range keys {
		if i == len(keys)-1 {
			m[k] = v
			return
		}
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
}

func (s *mlSpec) str(k string) string {
	switch v := s.m[k].(type) {
	case string:
		return v
	case int:
		return strconv.Itoa(v)
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

func (s *mlSpec) has(k string) bool { _, ok := s.m[k]; return ok }

func (s *mlSpec) sub(k string) map[string]any {
	m, _ := s.m[k].(map[string]any)
	return m
}

// path resolves a path given in the file relative to the file.
func (s *mlSpec) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(s.dir, p)
}

// checkKeys refuses fields the schema does not know, as azure-ai-ml's
// schema validation does.
func (s *mlSpec) checkKeys(kind string, allowed ...string) error {
	ok := map[string]bool{"$schema": true}
	for _, a := range allowed {
		ok[a] = true
	}
	var bad []string
	for k := range s.m {
		if !ok[k] {
			bad = append(bad, k)
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		hint := ""
		if v, has := s.m["identity"]; has && v == nil && (slices.Contains(bad, "type") || slices.Contains(bad, "user_assigned_identities")) {
			// A page that lost its indentation (seed 004's workspace YAML).
			hint = "; 'identity:' is empty and its type and user_assigned_identities sit at the top level: indent them under identity:"
		}
		return usageErr("the %s YAML has unknown field(s): %s (known: %s)%s", kind, strings.Join(bad, ", "), strings.Join(allowed, ", "), hint)
	}
	return nil
}

// restIdentity maps a YAML identity block (type: system_assigned |
// user_assigned | "system_assigned,user_assigned" | none;
// user_assigned_identities as a dict {id: {}} or a list [{resource_id}])
// to ARM's identity block (arm-and-rbac.md §4).
func restIdentity(v any) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, usageErr("identity must be a mapping with a type")
	}
	var bad []string
	for k := range m {
		switch k {
		case "type", "user_assigned_identities", "principal_id", "tenant_id":
		default:
			bad = append(bad, k)
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return nil, usageErr("identity has unknown field(s): %s (known: type, user_assigned_identities, principal_id, tenant_id)", strings.Join(bad, ", "))
	}
	t, _ := m["type"].(string)
	var rt string
	switch strings.ToLower(strings.ReplaceAll(strings.ReplaceAll(t, " ", ""), "_", "")) {
	case "systemassigned":
		rt = "SystemAssigned"
	case "userassigned":
		rt = "UserAssigned"
	case "systemassigned,userassigned", "userassigned,systemassigned":
		rt = "SystemAssigned,UserAssigned"
	case "none":
		rt = "None"
	default:
		return nil, usageErr("identity.type must be system_assigned, user_assigned, 'system_assigned,user_assigned' or none, not %q", t)
	}
	out := map[string]any{"type": rt}
	uais := map[string]any{}
	switch u := m["user_assigned_identities"].(type) {
	case nil:
	case map[string]any:
		for k := range u {
			uais[k] = map[string]any{}
		}
	case []any:
		for _, e := range u {
			switch ev := e.(type) {
			case map[string]any:
				id, _ := ev["resource_id"].(string)
				if id == "" {
					return nil, usageErr("each entry of identity.user_assigned_identities needs resource_id")
				}
				uais[id] = map[string]any{}
			case string:
				uais[ev] = map[string]any{}
			}
		}
	default:
		return nil, usageErr("identity.user_assigned_identities must be a mapping {<resource ID>: {}} or a list of {resource_id: …}")
	}
	if len(uais) > 0 {
		out["userAssignedIdentities"] = uais
	}
	return out, nil
}

// snakeIdentity renders an ARM identity block the way azure-ai-ml prints it.
func snakeIdentity(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	t, _ := m["type"].(string)
	t = strings.ReplaceAll(strings.ToLower(strings.ReplaceAll(t, " ", "")), "assigned", "_assigned")
	out := map[string]any{"type": t}
	if p, ok := m["principalId"]; ok {
		out["principal_id"] = p
	}
	if p, ok := m["tenantId"]; ok {
		out["tenant_id"] = p
	}
	if u, ok := m["userAssignedIdentities"].(map[string]any); ok && len(u) > 0 {
		uo := map[string]any{}
		for k, e := range u {
			em, _ := e.(map[string]any)
			uo[k] = map[string]any{"principal_id": em["principalId"], "client_id": em["clientId"]}
		}
		out["user_assigned_identities"] = uo
	}
	return out
}
