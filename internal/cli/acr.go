package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/spf13/cobra"
)

// apiACR is the Microsoft.ContainerRegistry api-version az 2.45 sends.
const apiACR = "2022-02-01-preview"

func init() { extraCommands = append(extraCommands, (*app).acrCmd) }

// acrShape prints a registry the way az does: properties lifted to the
// top level, plus resourceGroup.
func acrShape(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	if props, ok := m["properties"].(map[string]any); ok {
		for k, pv := range props {
			m[k] = pv
		}
		delete(m, "properties")
	}
	if _, ok := m["tags"]; !ok {
		m["tags"] = map[string]any{}
	}
	if _, ok := m["identity"]; !ok {
		m["identity"] = nil
	}
	delete(m, "systemData")
	return withResourceGroup(m)
}

// acrFlags are the registry-locating flags.
type acrFlags struct{ name, group string }

func (f *acrFlags) register(c *cobra.Command) {
	c.Flags().StringVarP(&f.name, "name", "n", "", "The name of the container registry")
	c.Flags().StringVarP(&f.group, "resource-group", "g", "", "Name of the resource group (found through the subscription's resources when omitted)")
}

// acrFind returns a registry's ARM path and document. Without -g it looks
// the name up in the subscription's resources, as az does.
func (a *app) acrFind(ctx context.Context, f acrFlags) (string, map[string]any, error) {
	if f.name == "" {
		return "", nil, usageErr("the following arguments are required: --name/-n")
	}
	sub, err := a.subscriptionID()
	if err != nil {
		return "", nil, err
	}
	group := f.group
	if group == "" {
		group = a.settings.defaultValue("group")
	}
	var path string
	if group != "" {
		path = armID(sub, group, "Microsoft.ContainerRegistry/registries", f.name)
	} else {
		items, err := a.armList(ctx, "/subscriptions/"+sub+"/resources", apiResources,
			url.Values{"$filter": {"resourceType eq 'Microsoft.ContainerRegistry/registries'"}})
		if err != nil {
			return "", nil, err
		}
		for _, it := range items {
			m, _ := it.(map[string]any)
			if n, _ := m["name"].(string); strings.EqualFold(n, f.name) {
				path, _ = m["id"].(string)
			}
		}
		if path == "" {
			return "", nil, &cliError{Code: "ResourceNotFound", Message: fmt.Sprintf("The Resource 'Microsoft.ContainerRegistry/registries/%s' was not found in subscription %s.", f.name, sub), Exit: exitNotFound}
		}
	}
	v, err := a.armRequest(ctx, http.MethodGet, path, apiACR, nil)
	if err != nil {
		return "", nil, err
	}
	m, _ := v.(map[string]any)
	return path, m, nil
}

func (a *app) acrCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "acr", Short: "Manage container registries (Microsoft.ContainerRegistry) and their images"}
	cmd.AddCommand(a.acrCreateCmd(), a.acrShowCmd(), a.acrListCmd(), a.acrUpdateCmd(), a.acrDeleteCmd(),
		a.acrCredentialCmd(), a.acrLoginCmd(), a.acrRepositoryCmd(), a.acrImportCmd())
	return cmd
}

func (a *app) acrCreateCmd() *cobra.Command {
	var f acrFlags
	var sku, location string
	var admin boolFlag
	var tags []string
	c := &cobra.Command{
		Use: "create", Short: "Create a container registry", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if f.name == "" {
				return usageErr("the following arguments are required: --name/-n")
			}
			sub, err := a.subscriptionID()
			if err != nil {
				return err
			}
			g, err := a.resourceGroup(f.group)
			if err != nil {
				return err
			}
			if location, err = a.createLocation(c.Context(), location, g); err != nil {
				return err
			}
			body := map[string]any{"location": location, "sku": map[string]any{"name": sku},
				"properties": map[string]any{"adminUserEnabled": admin.set && admin.val}}
			if t, err := parseTags(tags); err != nil {
				return err
			} else if t != nil {
				body["tags"] = t
			}
			v, err := a.armRequest(c.Context(), http.MethodPut, armID(sub, g, "Microsoft.ContainerRegistry/registries", f.name), apiACR, body)
			if err != nil {
				return err
			}
			return a.print(acrShape(v))
		},
	}
	f.register(c)
	c.Flags().StringVar(&sku, "sku", "Basic", "The SKU: Basic, Standard or Premium")
	c.Flags().StringVarP(&location, "location", "l", "", "Location (default: the resource group's)")
	c.Flags().Var(&admin, "admin-enabled", "Enable the admin user: true or false (default false)")
	c.Flags().StringSliceVar(&tags, "tags", nil, "Space-separated tags: key[=value]")
	return c
}

func (a *app) acrShowCmd() *cobra.Command {
	var f acrFlags
	c := &cobra.Command{
		Use: "show", Short: "Show a container registry", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, v, err := a.acrFind(c.Context(), f)
			if err != nil {
				return err
			}
			return a.print(acrShape(v))
		},
	}
	f.register(c)
	return c
}

func (a *app) acrListCmd() *cobra.Command {
	var group string
	c := &cobra.Command{
		Use: "list", Short: "List container registries (in a group, or the whole subscription)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := a.listPath(group, "Microsoft.ContainerRegistry/registries")
			if err != nil {
				return err
			}
			items, err := a.armList(c.Context(), p, apiACR, nil)
			if err != nil {
				return err
			}
			for i := range items {
				items[i] = acrShape(items[i])
			}
			return a.print(items)
		},
	}
	c.Flags().StringVarP(&group, "resource-group", "g", "", "Name of the resource group")
	return c
}

func (a *app) acrUpdateCmd() *cobra.Command {
	var f acrFlags
	var admin boolFlag
	var sku string
	c := &cobra.Command{
		Use: "update", Short: "Update a container registry (e.g. --admin-enabled true|false)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			path, _, err := a.acrFind(c.Context(), f)
			if err != nil {
				return err
			}
			body := map[string]any{"properties": map[string]any{}}
			if admin.set {
				body["properties"].(map[string]any)["adminUserEnabled"] = admin.val
			}
			if sku != "" {
				body["sku"] = map[string]any{"name": sku}
			}
			v, err := a.armRequest(c.Context(), http.MethodPatch, path, apiACR, body)
			if err != nil {
				return err
			}
			return a.print(acrShape(v))
		},
	}
	f.register(c)
	c.Flags().Var(&admin, "admin-enabled", "Enable the admin user: true or false")
	c.Flags().StringVar(&sku, "sku", "", "The SKU: Basic, Standard or Premium")
	return c
}

func (a *app) acrDeleteCmd() *cobra.Command {
	var f acrFlags
	var yes bool
	c := &cobra.Command{
		Use: "delete", Short: "Delete a container registry", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			path, _, err := a.acrFind(c.Context(), f)
			if err != nil {
				return err
			}
			if err := a.confirm(yes); err != nil {
				return err
			}
			_, err = a.armRequest(c.Context(), http.MethodDelete, path, apiACR, nil)
			return err
		},
	}
	f.register(c)
	c.Flags().BoolVarP(&yes, "yes", "y", false, "Do not prompt for confirmation")
	return c
}

func (a *app) acrCredentialCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "credential", Short: "Show or renew the admin user's credentials (rule ACR-1: needs the admin user enabled)"}
	var f acrFlags
	show := &cobra.Command{
		Use: "show", Short: "Show the admin user's username and passwords", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			path, _, err := a.acrFind(c.Context(), f)
			if err != nil {
				return err
			}
			v, err := a.armRequest(c.Context(), http.MethodPost, path+"/listCredentials", apiACR, nil)
			if err != nil {
				return err
			}
			return a.print(v)
		},
	}
	f.register(show)
	var g acrFlags
	var which string
	renew := &cobra.Command{
		Use: "renew", Short: "Regenerate one of the admin user's passwords", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if which != "password" && which != "password2" {
				return usageErr("--password-name must be password or password2")
			}
			path, _, err := a.acrFind(c.Context(), g)
			if err != nil {
				return err
			}
			v, err := a.armRequest(c.Context(), http.MethodPost, path+"/regenerateCredential", apiACR, map[string]any{"name": which})
			if err != nil {
				return err
			}
			return a.print(v)
		},
	}
	g.register(renew)
	renew.Flags().StringVar(&which, "password-name", "", "password or password2")
	cmd.AddCommand(show, renew)
	return cmd
}

// ---- data plane ----

// acrSession talks to one registry's data plane with a registry refresh
// token obtained by exchanging the CLI's Entra token (what az acr login
// does, client-protocols.md §6).
type acrSession struct {
	a           *app
	loginServer string
	refresh     string
	name        string
}

func (a *app) acrLogin(ctx context.Context, f acrFlags) (*acrSession, error) {
	_, reg, err := a.acrFind(ctx, f)
	if err != nil {
		return nil, err
	}
	props, _ := reg["properties"].(map[string]any)
	ls, _ := props["loginServer"].(string)
	if ls == "" {
		return nil, &cliError{Message: "the registry has no loginServer", Exit: exitError}
	}
	tok, err := a.accessToken(ctx, armResource)
	if err != nil {
		return nil, err
	}
	s := &acrSession{a: a, loginServer: ls, name: f.name}
	var out struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := s.form(ctx, "/oauth2/exchange", url.Values{"grant_type": {"access_token"}, "service": {ls}, "access_token": {tok}}, &out); err != nil {
		return nil, err
	}
	s.refresh = out.RefreshToken
	return s, nil
}

// form posts a form to the registry and decodes the JSON answer; OCI
// errors become cliErrors.
func (s *acrSession) form(ctx context.Context, path string, vals url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+s.loginServer+path, strings.NewReader(vals.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return s.do(req, out)
}

func (s *acrSession) do(req *http.Request, out any) error {
	t, err := s.a.target()
	if err != nil {
		return err
	}
	s.a.debugf("%s %s", req.Method, req.URL.Redacted())
	resp, err := t.HTTP.Do(req)
	if err != nil {
		return &cliError{Message: fmt.Sprintf("Could not connect to the registry login server '%s': %v", s.loginServer, err), Exit: exitError}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	s.a.debugf("-> %d (%d bytes)", resp.StatusCode, len(raw))
	if resp.StatusCode >= 400 {
		var oe struct {
			Errors []struct{ Code, Message string } `json:"errors"`
		}
		_ = json.Unmarshal(raw, &oe)
		ce := &cliError{Message: fmt.Sprintf("the registry answered %d: %s", resp.StatusCode, strings.TrimSpace(string(raw))), Exit: exitError, Status: resp.StatusCode}
		if len(oe.Errors) > 0 {
			ce.Code, ce.Message = oe.Errors[0].Code, oe.Errors[0].Message
		}
		if resp.StatusCode == http.StatusNotFound {
			ce.Exit = exitNotFound
		}
		return ce
	}
	if out != nil && len(raw) > 0 {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// accessToken gets a registry access token for scope.
func (s *acrSession) accessToken(ctx context.Context, scope string) (string, error) {
	var out struct {
		AccessToken string `json:"access_token"`
	}
	err := s.form(ctx, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "service": {s.loginServer}, "scope": {scope}, "refresh_token": {s.refresh}}, &out)
	return out.AccessToken, err
}

func (s *acrSession) get(ctx context.Context, scope, method, path string, out any) error {
	tok, err := s.accessToken(ctx, scope)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, "https://"+s.loginServer+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	return s.do(req, out)
}

func (a *app) acrLoginCmd() *cobra.Command {
	var f acrFlags
	var expose bool
	c := &cobra.Command{
		Use: "login", Short: "Get a registry token for your Entra identity (--expose-token prints it)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if !expose {
				return usageErr("amlid drives no docker daemon: use `amlid acr login -n %s --expose-token` and pass the token to your client (docker login LOGIN_SERVER -u %s -p TOKEN)",
					f.name, "00000000-0000-0000-0000-000000000000")
			}
			s, err := a.acrLogin(c.Context(), f)
			if err != nil {
				return err
			}
			a.warnf("You can perform manual login using the provided access token below, for example: 'docker login loginServer -u 00000000-0000-0000-0000-000000000000 -p accessToken'")
			return a.print(map[string]any{"loginServer": s.loginServer, "accessToken": s.refresh})
		},
	}
	f.register(c)
	c.Flags().BoolVarP(&expose, "expose-token", "t", false, "Expose the access token instead of logging in through docker")
	return c
}

func (a *app) acrRepositoryCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "repository", Short: "Manage repositories (images) in a registry"}
	var lf acrFlags
	list := &cobra.Command{
		Use: "list", Short: "List the repositories of a registry", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			s, err := a.acrLogin(c.Context(), lf)
			if err != nil {
				return err
			}
			items := []any{}
			// The registry answers a page at a time: resume after the last name.
			for last := ""; ; {
				var out struct {
					Repositories []string `json:"repositories"`
				}
				if err := s.get(c.Context(), "registry:catalog:*", http.MethodGet, "/v2/_catalog?n=1000&last="+url.QueryEscape(last), &out); err != nil {
					return err
				}
				for _, r := range out.Repositories {
					items = append(items, r)
				}
				if len(out.Repositories) < 1000 {
					break
				}
				last = out.Repositories[len(out.Repositories)-1]
			}
			return a.print(items)
		},
	}
	lf.register(list)
	var tf acrFlags
	var tRepo string
	tags := &cobra.Command{
		Use: "show-tags", Short: "Show the tags of a repository", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if tRepo == "" {
				return usageErr("the following arguments are required: --repository")
			}
			s, err := a.acrLogin(c.Context(), tf)
			if err != nil {
				return err
			}
			var all []string
			for last := ""; ; {
				var out struct {
					Tags []string `json:"tags"`
				}
				if err := s.get(c.Context(), "repository:"+tRepo+":pull", http.MethodGet, "/v2/"+tRepo+"/tags/list?n=1000&last="+url.QueryEscape(last), &out); err != nil {
					return err
				}
				all = append(all, out.Tags...)
				if len(out.Tags) < 1000 {
					break
				}
				last = out.Tags[len(out.Tags)-1]
			}
			sort.Strings(all)
			items := []any{}
			for _, t := range all {
				items = append(items, t)
			}
			return a.print(items)
		},
	}
	tf.register(tags)
	tags.Flags().StringVar(&tRepo, "repository", "", "The name of the repository")
	var df acrFlags
	var dRepo string
	var yes bool
	del := &cobra.Command{
		Use: "delete", Short: "Delete a repository with all its images and tags", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if dRepo == "" {
				return usageErr("the following arguments are required: --repository")
			}
			if err := a.confirm(yes); err != nil {
				return err
			}
			s, err := a.acrLogin(c.Context(), df)
			if err != nil {
				return err
			}
			var out map[string]any
			if err := s.get(c.Context(), "repository:"+dRepo+":delete", http.MethodDelete, "/acr/v1/"+dRepo, &out); err != nil {
				return err
			}
			return a.print(out)
		},
	}
	df.register(del)
	del.Flags().StringVar(&dRepo, "repository", "", "The name of the repository")
	del.Flags().BoolVarP(&yes, "yes", "y", false, "Do not prompt for confirmation")
	cmd.AddCommand(list, tags, del)
	return cmd
}
