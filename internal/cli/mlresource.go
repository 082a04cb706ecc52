package cli

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
)

// mlResource declares an `amlid ml <group>` whose items live below a
// workspace at <workspace>/<collection>/<name> (or below a parent item, as
// online deployments below their endpoint). mlResourceCmd derives az's
// verbs from it: create (from a YAML file), show, list, delete and POST
// actions, each with az's flags (-n, -w, -g, -f, --set, -y), az's "the
// following arguments are required" errors (exit 2) and the global
// -o json|jsonc|tsv|table|yaml|yamlc and --query. What a declaration
// cannot say is a command of its own, built over the same mlItemRef.
type mlResource struct {
	use, short string
	noun       string // "connection": flag help "Name of the connection", messages
	collection string // ARM path segment below the workspace (or parent item)
	parent     *mlParent
	shape      func(any) any // ARM record → az's output; nil prints it as ARM has it

	create  *mlCreate
	show    *mlShow
	list    *mlList
	delete  *mlDelete
	actions []mlAction
}

// mlParent is the item a resource lives below (online-deployment's
// -e/--endpoint-name).
type mlParent struct {
	flag, shorthand, help string
	collection            string
}

// mlCreate is `create -f file.yml [--set k=v] [-n name]`: the YAML's body
// is PUT at the item's path.
type mlCreate struct {
	short, fileHelp string
	body            func(*mlSpec) (map[string]any, error)
}

// mlShow is `show -n name`; with secrets, --include-secrets too.
type mlShow struct {
	short   string
	secrets *mlSecrets
}

// mlSecrets is --include-secrets: POST <item>/<action>. merge adds its
// answer to the record as "secrets"; otherwise the answer (shaped) is
// printed instead of the GET.
type mlSecrets struct {
	help, action string
	merge        bool
}

// mlList is `list`; filter adds one flag that keeps some (shaped) items.
type mlList struct {
	short  string
	filter *mlListFilter
}

type mlListFilter struct {
	flag, shorthand, help string
	keep                  func(item any, value string) bool
}

// mlDelete is `delete -n name [-y]`; query is sent with the DELETE.
type mlDelete struct {
	short string
	query url.Values
}

// mlAction is a verb on one item: method (POST unless said) on
// <item>/<verb> (the item itself when verb is ""); out turns the answer
// into what is printed (nil prints nothing); confirm asks as delete does.
type mlAction struct {
	use, short, method, verb string
	query                    url.Values
	out                      func(any) any
	confirm                  bool
}

// printAsIs is an mlAction.out that prints the answer unchanged.
func printAsIs(v any) any { return v }

// mlItemRef is what a verb of a resource reads from its flags: the
// workspace, the parent and the item's name.
type mlItemRef struct {
	res    *mlResource
	ws     wsRef
	parent string
	name   string
}

// ref registers the workspace and parent flags on c, and -n/--name with
// nameHelp unless it is "" (list).
func (r *mlResource) ref(c *cobra.Command, nameHelp string) *mlItemRef {
	ir := &mlItemRef{res: r}
	fl := c.Flags()
	fl.StringVarP(&ir.ws.v1name, "workspace-name", "w", "", "Name of the workspace (default: 'amlid configure --defaults workspace=…')")
	fl.StringVarP(&ir.ws.group, "resource-group", "g", "", "Name of the resource group (default: 'amlid configure --defaults group=…')")
	if p := r.parent; p != nil {
		fl.StringVarP(&ir.parent, p.flag, p.shorthand, "", p.help)
	}
	if nameHelp != "" {
		fl.StringVarP(&ir.name, "name", "n", "", nameHelp)
	}
	return ir
}

// nameHelp is the -n help of the group's verbs.
func (r *mlResource) nameHelp() string { return "Name of the " + r.noun }

// collectionPath resolves the workspace and the collection's path
// (checking the parent flag first).
func (ir *mlItemRef) collectionPath(ctx context.Context, a *app) (*wsCtx, string, error) {
	if p := ir.res.parent; p != nil && ir.parent == "" {
		return nil, "", usageErr("the following arguments are required: --%s/-%s", p.flag, p.shorthand)
	}
	ws, err := a.workspace(ctx, &ir.ws)
	if err != nil {
		return nil, "", err
	}
	base := ws.path
	if ir.res.parent != nil {
		base = ir.parentPath(ws)
	}
	return ws, base + "/" + ir.res.collection, nil
}

// itemPath resolves the item named name (the -n flag's value when name is
// ""): the parent and the name are required, in that order, before the
// workspace is read.
func (ir *mlItemRef) itemPath(ctx context.Context, a *app, name string) (*wsCtx, string, error) {
	if name == "" {
		name = ir.name
	}
	if p := ir.res.parent; p != nil && ir.parent == "" {
		return nil, "", usageErr("the following arguments are required: --%s/-%s", p.flag, p.shorthand)
	}
	if name == "" {
		return nil, "", usageErr("the following arguments are required: --name/-n")
	}
	ws, coll, err := ir.collectionPath(ctx, a)
	if err != nil {
		return nil, "", err
	}
	return ws, coll + "/" + url.PathEscape(name), nil
}

func (r *mlResource) shaped(v any) any {
	if r.shape == nil {
		return v
	}
	return r.shape(v)
}

// mlResourceCmd builds the group of r: its declared verbs, then extra.
func (a *app) mlResourceCmd(r *mlResource, extra ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{Use: r.use, Short: r.short}
	if r.create != nil {
		cmd.AddCommand(a.mlCreateCmd(r))
	}
	if r.show != nil {
		cmd.AddCommand(a.mlShowCmd(r))
	}
	if r.list != nil {
		cmd.AddCommand(a.mlListCmd(r))
	}
	if r.delete != nil {
		cmd.AddCommand(a.mlDeleteCmd(r))
	}
	for i := range r.actions {
		cmd.AddCommand(a.mlActionCmd(r, &r.actions[i]))
	}
	cmd.AddCommand(extra...)
	return cmd
}

func (a *app) mlCreateCmd(r *mlResource) *cobra.Command {
	var file string
	var sets []string
	var ir *mlItemRef
	c := &cobra.Command{
		Use: "create", Short: r.create.short, Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if file == "" {
				return usageErr("the following arguments are required: --file/-f")
			}
			spec, err := loadMLSpec(file, sets)
			if err != nil {
				return err
			}
			n := firstNonEmpty(ir.name, spec.str("name"))
			if n == "" {
				return usageErr("the %s needs a name (name in the YAML, or --name)", r.noun)
			}
			body, err := r.create.body(spec)
			if err != nil {
				return err
			}
			_, p, err := ir.itemPath(c.Context(), a, n)
			if err != nil {
				return err
			}
			res, err := a.armRequest(c.Context(), http.MethodPut, p, apiML, body)
			if err != nil {
				return err
			}
			return a.print(r.shaped(res))
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", r.create.fileHelp)
	c.Flags().StringSliceVar(&sets, "set", nil, "Update a field of the YAML: --set path=value")
	ir = r.ref(c, r.nameHelp())
	return c
}

func (a *app) mlShowCmd(r *mlResource) *cobra.Command {
	var secrets bool
	s := r.show.secrets
	c := a.mlItemCmd(r, "show", r.show.short, func(ctx context.Context, it mlItem) error {
		if secrets && !s.merge {
			res, err := a.armRequest(ctx, http.MethodPost, it.path+"/"+s.action, apiML, nil)
			if err != nil {
				return err
			}
			return a.print(r.shaped(res))
		}
		res, err := a.armRequest(ctx, http.MethodGet, it.path, apiML, nil)
		if err != nil {
			return err
		}
		out := r.shaped(res)
		if secrets {
			sv, err := a.armRequest(ctx, http.MethodPost, it.path+"/"+s.action, apiML, nil)
			if err != nil {
				return err
			}
			if m, ok := out.(map[string]any); ok {
				m["secrets"] = sv
			}
		}
		return a.print(out)
	})
	if s != nil {
		c.Flags().BoolVar(&secrets, "include-secrets", false, s.help)
	}
	return c
}

func (a *app) mlListCmd(r *mlResource) *cobra.Command {
	var value string
	var ir *mlItemRef
	f := r.list.filter
	c := &cobra.Command{
		Use: "list", Short: r.list.short, Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, p, err := ir.collectionPath(c.Context(), a)
			if err != nil {
				return err
			}
			items, err := a.armList(c.Context(), p, apiML, nil)
			if err != nil {
				return err
			}
			out := []any{}
			for _, it := range items {
				s := r.shaped(it)
				if f != nil && value != "" && !f.keep(s, value) {
					continue
				}
				out = append(out, s)
			}
			return a.print(out)
		},
	}
	if f != nil {
		c.Flags().StringVarP(&value, f.flag, f.shorthand, "", f.help)
	}
	ir = r.ref(c, "")
	return c
}

func (a *app) mlDeleteCmd(r *mlResource) *cobra.Command {
	act := mlAction{use: "delete", short: r.delete.short, method: http.MethodDelete, query: r.delete.query, confirm: true}
	return a.mlActionCmd(r, &act)
}

func (a *app) mlActionCmd(r *mlResource, act *mlAction) *cobra.Command {
	var yes bool
	c := a.mlItemCmd(r, act.use, act.short, func(ctx context.Context, it mlItem) error {
		if act.confirm {
			if err := a.confirm(yes); err != nil {
				return err
			}
		}
		p := it.path
		if act.verb != "" {
			p += "/" + act.verb
		}
		method := act.method
		if method == "" {
			method = http.MethodPost
		}
		_, v, err := a.armDo(ctx, method, p, apiML, act.query, nil)
		if err != nil || act.out == nil {
			return err
		}
		return a.print(act.out(v))
	})
	if act.confirm {
		c.Flags().BoolVarP(&yes, "yes", "y", false, "Do not prompt for confirmation")
	}
	return c
}

// mlItem is the item a verb acts on, resolved from its flags.
type mlItem struct {
	ws   *wsCtx
	path string
	ref  *mlItemRef
}

// mlItemCmd is a verb on one item (-n, -w, -g and the parent's flag):
// run gets the item once the flags name it; the caller adds its own flags.
func (a *app) mlItemCmd(r *mlResource, use, short string, run func(ctx context.Context, it mlItem) error) *cobra.Command {
	var ir *mlItemRef
	c := &cobra.Command{
		Use: use, Short: short, Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ws, p, err := ir.itemPath(c.Context(), a, "")
			if err != nil {
				return err
			}
			return run(c.Context(), mlItem{ws: ws, path: p, ref: ir})
		},
	}
	ir = r.ref(c, r.nameHelp())
	return c
}

// parentPath is the parent item's path in ws.
func (ir *mlItemRef) parentPath(ws *wsCtx) string {
	return ws.path + "/" + ir.res.parent.collection + "/" + url.PathEscape(ir.parent)
}

// armRecord splits an ARM record into itself, its properties and its ID
// (ok is false when v is not a record).
func armRecord(v any) (m, props map[string]any, id string, ok bool) {
	m, ok = v.(map[string]any)
	if !ok {
		return nil, nil, "", false
	}
	props, _ = m["properties"].(map[string]any)
	id, _ = m["id"].(string)
	return m, props, id, true
}

// setGroup sets out's resourceGroup when the ARM ID names one.
func setGroup(out map[string]any, id string) {
	if parts := strings.Split(id, "/"); len(parts) > 4 {
		out["resourceGroup"] = parts[4]
	}
}

// assetOfVersion is the asset's name in a version's ID
// (…/<assets>/<name>/versions/<version>).
func assetOfVersion(id string) string {
	if parts := strings.Split(id, "/"); len(parts) >= 3 {
		return parts[len(parts)-3]
	}
	return ""
}

// assetVersion is the ID of a versioned asset's version (the latest when
// version is "").
func (a *app) assetVersion(ctx context.Context, it mlItem, version string) (string, error) {
	ref := "azureml:" + it.ref.name + "@latest"
	if version != "" {
		ref = "azureml:" + it.ref.name + ":" + version
	}
	return a.assetRef(ctx, it.ws, it.ref.res.collection, ref)
}

// mlYAMLCmd is a create from a YAML file and flags that mlCreate cannot
// say (versioned assets): -f, --set, -n (over the YAML's name), -w, -g.
// run gets the spec, its keys checked against kind's, and the name.
func (a *app) mlYAMLCmd(r *mlResource, short, fileHelp, kind string, keys []string,
	run func(ctx context.Context, ir *mlItemRef, spec *mlSpec, name string) error) *cobra.Command {
	var file string
	var sets []string
	var ir *mlItemRef
	c := &cobra.Command{
		Use: "create", Short: short, Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			spec, err := loadMLSpec(file, sets)
			if err != nil {
				return err
			}
			if err := spec.checkKeys(kind, keys...); err != nil {
				return err
			}
			n := firstNonEmpty(ir.name, spec.str("name"))
			if n == "" {
				return usageErr("the following arguments are required: --name/-n (or name in the YAML)")
			}
			return run(c.Context(), ir, spec, n)
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", fileHelp)
	c.Flags().StringSliceVar(&sets, "set", nil, "Update a field of the YAML: --set path=value")
	ir = r.ref(c, r.nameHelp()+" (overrides the YAML)")
	return c
}
