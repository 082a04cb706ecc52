package cli

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
)

// `amlid ml connection` (issue 21): workspace connections with azure-ai-ml
// 1.4's YAML (type container_registry, target, credentials of type
// username_password or managed_identity).

func init() {
	mlSubcommands = append(mlSubcommands, (*app).mlConnectionCmd)
}

// connectionBody maps a connection YAML to the REST body.
func connectionBody(spec *mlSpec) (map[string]any, error) {
	if err := spec.checkKeys("connection", "name", "type", "target", "credentials", "metadata", "description", "tags"); err != nil {
		return nil, err
	}
	props := map[string]any{"category": snakeToCamelUpper(firstNonEmpty(spec.str("type"), "container_registry")), "target": spec.str("target")}
	if m := spec.sub("metadata"); m != nil {
		props["metadata"] = m
	}
	creds := map[string]any{}
	auth := ""
	for k, v := range spec.sub("credentials") {
		switch strings.ToLower(k) {
		case "type":
			auth = snakeToCamelUpper(strings.ToLower(v.(string)))
		case "username":
			creds["username"] = v
		case "password":
			creds["password"] = v
		case "resource_id", "resourceid":
			creds["resourceId"] = v
		case "client_id", "clientid":
			creds["clientId"] = v
		default:
			return nil, usageErr("credentials.%s is not a connection credential field (username, password, resource_id, client_id, type)", k)
		}
	}
	if auth == "" {
		if creds["resourceId"] != nil {
			auth = "ManagedIdentity"
		} else if creds["username"] != nil || creds["password"] != nil {
			auth = "UsernamePassword"
		} else {
			auth = "None"
		}
	}
	props["authType"] = auth
	props["credentials"] = creds
	return map[string]any{"properties": props}, nil
}

// snakeToCamelUpper turns container_registry into ContainerRegistry.
func snakeToCamelUpper(s string) string {
	var b strings.Builder
	for _, p := range strings.Split(s, "_") {
		if p != "" {
			b.WriteString(strings.ToUpper(p[:1]) + p[1:])
		}
	}
	return b.String()
}

// connectionShape prints a connection as azure-ai-ml's YAML has it.
func connectionShape(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	p, _ := m["properties"].(map[string]any)
	out := map[string]any{"id": m["id"], "name": m["name"], "target": p["target"]}
	if s, _ := p["category"].(string); s != "" {
		out["type"] = camelToSnake(s)
	}
	creds := map[string]any{}
	if c, ok := p["credentials"].(map[string]any); ok {
		for rk, yk := range map[string]string{"username": "username", "resourceId": "resource_id", "clientId": "client_id", "password": "password"} {
			if c[rk] != nil {
				creds[yk] = c[rk]
			}
		}
	}
	if s, _ := p["authType"].(string); s != "" {
		creds["type"] = camelToSnake(s)
	}
	out["credentials"] = creds
	if p["metadata"] != nil {
		out["metadata"] = p["metadata"]
	}
	return out
}

func (a *app) mlConnectionCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "connection", Short: "Manage workspace connections: registry credentials for environment builds (rule ACR-5)"}
	var ref wsRef
	var file, name string
	var sets []string
	var yes, secrets bool
	create := &cobra.Command{
		Use: "create", Short: "Create or update a connection from a YAML file", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if file == "" {
				return usageErr("the following arguments are required: --file/-f")
			}
			spec, err := loadMLSpec(file, sets)
			if err != nil {
				return err
			}
			n := firstNonEmpty(name, spec.str("name"))
			if n == "" {
				return usageErr("the connection needs a name (name in the YAML, or --name)")
			}
			body, err := connectionBody(spec)
			if err != nil {
				return err
			}
			ws, err := a.workspace(c.Context(), &ref)
			if err != nil {
				return err
			}
			res, err := a.armRequest(c.Context(), http.MethodPut, ws.path+"/connections/"+url.PathEscape(n), apiML, body)
			if err != nil {
				return err
			}
			return a.print(connectionShape(res))
		},
	}
	create.Flags().StringVarP(&file, "file", "f", "", "Local path to the YAML file of the connection")
	create.Flags().StringSliceVar(&sets, "set", nil, "Update a field of the YAML: --set path=value")
	show := &cobra.Command{
		Use: "show", Short: "Show a connection (never its password, unless --include-secrets)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if name == "" {
				return usageErr("the following arguments are required: --name/-n")
			}
			ws, err := a.workspace(c.Context(), &ref)
			if err != nil {
				return err
			}
			p := ws.path + "/connections/" + url.PathEscape(name)
			method := http.MethodGet
			if secrets {
				method, p = http.MethodPost, p+"/listsecrets"
			}
			res, err := a.armRequest(c.Context(), method, p, apiML, nil)
			if err != nil {
				return err
			}
			return a.print(connectionShape(res))
		},
	}
	show.Flags().BoolVar(&secrets, "include-secrets", false, "Read the password too (workspaces/connections/listsecrets/action)")
	list := &cobra.Command{
		Use: "list", Short: "List the workspace's connections", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ws, err := a.workspace(c.Context(), &ref)
			if err != nil {
				return err
			}
			items, err := a.armList(c.Context(), ws.path+"/connections", apiML, nil)
			if err != nil {
				return err
			}
			out := []any{}
			for _, it := range items {
				out = append(out, connectionShape(it))
			}
			return a.print(out)
		},
	}
	del := &cobra.Command{
		Use: "delete", Short: "Delete a connection", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if name == "" {
				return usageErr("the following arguments are required: --name/-n")
			}
			ws, err := a.workspace(c.Context(), &ref)
			if err != nil {
				return err
			}
			return a.confirmDelete(c.Context(), ws.path+"/connections/"+url.PathEscape(name), yes)
		},
	}
	del.Flags().BoolVarP(&yes, "yes", "y", false, "Do not prompt for confirmation")
	for _, sc := range []*cobra.Command{create, show, list, del} {
		ref.flags(sc, false)
		if sc != list {
			sc.Flags().StringVarP(&name, "name", "n", "", "Name of the connection")
		}
		cmd.AddCommand(sc)
	}
	return cmd
}
