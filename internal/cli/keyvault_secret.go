package cli

// amlid keyvault secret …: the secrets data plane, called on the vault's
// own address (properties.vaultUri) with a token for https://vault.azure.net.

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

const (
	kvDataAPI   = "7.4"
	kvAudience  = "https://vault.azure.net"
	azTimeShape = "2006-01-02T15:04:05+00:00"
)

type secretTarget struct {
	vault, id, name, version string
}

func (f *secretTarget) register(c *cobra.Command, withVersion bool) {
	c.Flags().StringVar(&f.vault, "vault-name", "", "Name of the key vault")
	c.Flags().StringVarP(&f.name, "name", "n", "", "Name of the secret")
	c.Flags().StringVar(&f.id, "id", "", "Secret identifier (https://…/secrets/{name}[/{version}]) instead of --vault-name and --name")
	if withVersion {
		c.Flags().StringVarP(&f.version, "version", "v", "", "Secret version (default: the current one)")
	}
}

// resolve returns the vault's base URL, the secret name and version.
func (a *app) resolveSecret(ctx context.Context, f *secretTarget, needName bool) (string, string, string, error) {
	if f.id != "" {
		u, err := url.Parse(f.id)
		if err != nil || u.Host == "" {
			return "", "", "", usageErr("--id %q is not a secret identifier", f.id)
		}
		segs := strings.Split(strings.Trim(u.Path, "/"), "/")
		base := u.Scheme + "://" + u.Host
		if len(segs) < 2 {
			if needName {
				return "", "", "", usageErr("--id %q names no secret", f.id)
			}
			return base, "", "", nil
		}
		ver := ""
		if len(segs) > 2 {
			ver = segs[2]
		}
		return base, segs[1], ver, nil
	}
	if f.vault == "" {
		return "", "", "", usageErr("the following arguments are required: --vault-name (or --id)")
	}
	if needName && f.name == "" {
		return "", "", "", usageErr("the following arguments are required: --name/-n")
	}
	v, err := a.getVault(ctx, f.vault, "")
	if err != nil {
		return "", "", "", err
	}
	props, _ := v["properties"].(map[string]any)
	uri, _ := props["vaultUri"].(string)
	return strings.TrimSuffix(uri, "/"), f.name, f.version, nil
}

func (a *app) kvData(ctx context.Context, method, base, path string, query url.Values, body any) (any, error) {
	tok, err := a.accessToken(ctx, kvAudience)
	if err != nil {
		return nil, err
	}
	q := url.Values{"api-version": {kvDataAPI}}
	for k, v := range query {
		q[k] = v
	}
	_, v, err := a.httpJSON(ctx, method, base+path+"?"+q.Encode(), tok, body)
	return v, err
}

func (a *app) kvDataList(ctx context.Context, base, path string) ([]any, error) {
	out := []any{}
	v, err := a.kvData(ctx, http.MethodGet, base, path, nil, nil)
	for err == nil {
		m, _ := v.(map[string]any)
		items, _ := m["value"].([]any)
		out = append(out, items...)
		next, _ := m["nextLink"].(string)
		if next == "" {
			break
		}
		tok, terr := a.accessToken(ctx, kvAudience)
		if terr != nil {
			return nil, terr
		}
		_, v, err = a.httpJSON(ctx, http.MethodGet, next, tok, nil)
	}
	return out, err
}

func azTime(v any) any {
	switch n := v.(type) {
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return time.Unix(i, 0).UTC().Format(azTimeShape)
		}
	case float64:
		return time.Unix(int64(n), 0).UTC().Format(azTimeShape)
	}
	return nil
}

// secretShape prints a secret bundle or item as az does.
func secretShape(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := map[string]any{"contentType": nil, "id": m["id"], "managed": nil, "tags": nil}
	for _, k := range []string{"value", "contentType", "tags", "kid", "managed"} {
		if x, ok := m[k]; ok {
			out[k] = x
		}
	}
	if _, ok := m["value"]; ok {
		out["kid"] = m["kid"]
	}
	if id, _ := m["id"].(string); id != "" {
		if u, err := url.Parse(id); err == nil {
			segs := strings.Split(strings.Trim(u.Path, "/"), "/")
			if len(segs) >= 2 {
				out["name"] = segs[1]
			}
		}
	}
	if at, ok := m["attributes"].(map[string]any); ok {
		out["attributes"] = map[string]any{"created": azTime(at["created"]), "updated": azTime(at["updated"]), "enabled": at["enabled"],
			"expires": azTime(at["exp"]), "notBefore": azTime(at["nbf"]), "recoverableDays": at["recoverableDays"], "recoveryLevel": at["recoveryLevel"]}
	}
	for _, k := range []string{"recoveryId"} {
		if x, ok := m[k]; ok {
			out[k] = x
		}
	}
	for _, k := range []string{"deletedDate", "scheduledPurgeDate"} {
		if x, ok := m[k]; ok {
			out[k] = azTime(x)
		}
	}
	return out
}

func (a *app) kvSecretCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "secret", Short: "Manage secrets in a key vault"}
	path := func(name string, rest ...string) string {
		p := "/secrets/" + url.PathEscape(name)
		for _, r := range rest {
			p += "/" + url.PathEscape(r)
		}
		return p
	}
	shapeAll := func(items []any, err error) (any, error) {
		for i := range items {
			items[i] = secretShape(items[i])
		}
		return items, err
	}
	show := a.kvSecretVerb("show", "Show a secret and its value", true, func(ctx context.Context, base, name, ver string) (any, error) {
		v, err := a.kvData(ctx, http.MethodGet, base, path(name, ver), nil, nil)
		return secretShape(v), err
	})
	list := a.kvSecretVerb("list", "List secrets (no values)", false, func(ctx context.Context, base, _, _ string) (any, error) {
		return shapeAll(a.kvDataList(ctx, base, "/secrets"))
	})
	versions := a.kvSecretVerb("list-versions", "List a secret's versions", false, func(ctx context.Context, base, name, _ string) (any, error) {
		return shapeAll(a.kvDataList(ctx, base, path(name)+"/versions"))
	})
	del := a.kvSecretVerb("delete", "Delete a secret (soft delete: recover or purge it later)", false, func(ctx context.Context, base, name, _ string) (any, error) {
		v, err := a.kvData(ctx, http.MethodDelete, base, path(name), nil, nil)
		return secretShape(v), err
	})
	recov := a.kvSecretVerb("recover", "Recover a deleted secret", false, func(ctx context.Context, base, name, _ string) (any, error) {
		v, err := a.kvData(ctx, http.MethodPost, base, "/deletedsecrets/"+url.PathEscape(name)+"/recover", nil, nil)
		return secretShape(v), err
	})
	purge := a.kvSecretVerb("purge", "Permanently delete a deleted secret", false, func(ctx context.Context, base, name, _ string) (any, error) {
		_, err := a.kvData(ctx, http.MethodDelete, base, "/deletedsecrets/"+url.PathEscape(name), nil, nil)
		return nil, err
	})
	listDeleted := a.kvSecretVerb("list-deleted", "List deleted secrets", false, func(ctx context.Context, base, _, _ string) (any, error) {
		return shapeAll(a.kvDataList(ctx, base, "/deletedsecrets"))
	})
	cmd.AddCommand(a.kvSecretSetCmd(), show, list, versions, del, recov, purge, listDeleted, a.kvSecretAttributesCmd())
	return cmd
}

// kvSecretVerb is a `keyvault secret` verb: the vault and secret flags
// (with --version when withVersion), and run's answer printed unless nil.
func (a *app) kvSecretVerb(use, short string, withVersion bool, run func(ctx context.Context, base, name, version string) (any, error)) *cobra.Command {
	var f secretTarget
	c := &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			base, name, ver, err := a.resolveSecret(c.Context(), &f, use != "list" && use != "list-deleted")
			if err != nil {
				return err
			}
			v, err := run(c.Context(), base, name, ver)
			if err != nil || v == nil {
				return err
			}
			return a.print(v)
		}}
	f.register(c, withVersion)
	return c
}

func (a *app) kvSecretSetCmd() *cobra.Command {
	var value, file, contentType string
	var tags []string
	c := a.kvSecretVerb("set", "Create a secret, or a new version of it", false, func(ctx context.Context, base, name, _ string) (any, error) {
		val := value
		if file != "" {
			b, err := os.ReadFile(file)
			if err != nil {
				return nil, err
			}
			val = string(b)
		}
		if (value == "") == (file == "") {
			return nil, usageErr("incorrect usage: [Required] --value VALUE | --file PATH")
		}
		body := map[string]any{"value": val}
		if contentType != "" {
			body["contentType"] = contentType
		}
		if tg, err := parseTags(tags); err != nil {
			return nil, err
		} else if tg != nil {
			body["tags"] = tg
		}
		v, err := a.kvData(ctx, http.MethodPut, base, "/secrets/"+url.PathEscape(name), nil, body)
		return secretShape(v), err
	})
	c.Flags().StringVar(&value, "value", "", "The secret value")
	c.Flags().StringVarP(&file, "file", "f", "", "Read the value from a file")
	c.Flags().StringVar(&contentType, "description", "", "Content type of the secret (az's --description)")
	c.Flags().StringSliceVar(&tags, "tags", nil, "Space-separated tags: key[=value]")
	return c
}

func (a *app) kvSecretAttributesCmd() *cobra.Command {
	var enabled, contentType string
	c := a.kvSecretVerb("set-attributes", "Change a secret version's attributes", true, func(ctx context.Context, base, name, ver string) (any, error) {
		body := map[string]any{}
		if enabled != "" {
			b, err := boolArg("enabled", enabled)
			if err != nil {
				return nil, err
			}
			body["attributes"] = map[string]any{"enabled": b}
		}
		if contentType != "" {
			body["contentType"] = contentType
		}
		v, err := a.kvData(ctx, http.MethodPatch, base, "/secrets/"+url.PathEscape(name)+"/"+url.PathEscape(ver), nil, body)
		return secretShape(v), err
	})
	c.Flags().StringVar(&enabled, "enabled", "", "true or false")
	c.Flags().StringVar(&contentType, "content-type", "", "Content type")
	return c
}
