package cli

import (
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

// connectionResource is `amlid ml connection`.
var connectionResource = &mlResource{
	use: "connection", short: "Manage workspace connections: registry credentials for environment builds (rule ACR-5)",
	noun: "connection", collection: "connections", shape: connectionShape,
	create: &mlCreate{short: "Create or update a connection from a YAML file", fileHelp: "Local path to the YAML file of the connection", body: connectionBody},
	show: &mlShow{short: "Show a connection (never its password, unless --include-secrets)",
		secrets: &mlSecrets{help: "Read the password too (workspaces/connections/listsecrets/action)", action: "listsecrets"}},
	list:   &mlList{short: "List the workspace's connections"},
	delete: &mlDelete{short: "Delete a connection"},
}

func (a *app) mlConnectionCmd() *cobra.Command { return a.mlResourceCmd(connectionResource) }
