package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// widgetResource declares every verb the builder derives, below a parent.
var widgetResource = &mlResource{
	use: "widget", short: "Manage widgets", noun: "widget", collection: "widgets",
	parent: &mlParent{flag: "box-name", shorthand: "b", help: "Name of the box", collection: "boxes"},
	create: &mlCreate{short: "Create a widget from YAML", fileHelp: "YAML file of the widget", body: func(s *mlSpec) (map[string]any, error) {
		if err := s.checkKeys("widget", "name", "size"); err != nil {
			return nil, err
		}
		return map[string]any{"properties": map[string]any{"size": s.m["size"]}}, nil
	}},
	show: &mlShow{short: "Show a widget", secrets: &mlSecrets{help: "With its secret", action: "listSecrets"}},
	list: &mlList{short: "List the box's widgets",
		filter: &mlListFilter{flag: "kind", shorthand: "k", help: "Only widgets of this kind", keep: func(any, string) bool { return true }}},
	delete:  &mlDelete{short: "Delete a widget"},
	actions: []mlAction{{use: "start", short: "Start a widget", verb: "start"}, {use: "list-keys", short: "Show its keys", verb: "listKeys", out: printAsIs}},
}

// widgetCLI runs amlid with `ml widget` added, without a server: every
// case here fails (or not) before the workspace is read.
func widgetCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	t.Setenv("AMLID_CONFIG_DIR", t.TempDir())
	var so, se bytes.Buffer
	a := &app{stdin: strings.NewReader(""), stdout: &so, stderr: &se}
	root := a.rootCmd()
	ml, _, err := root.Find([]string{"ml"})
	if err != nil {
		t.Fatal(err)
	}
	ml.AddCommand(a.mlResourceCmd(widgetResource))
	code := a.execute(root, args)
	return so.String(), se.String(), code
}

// flagSet lists a command's own flags as name/shorthand, sorted.
func flagSet(c *cobra.Command) []string {
	var out []string
	c.LocalFlags().VisitAll(func(f *pflag.Flag) {
		if f.Name != "help" {
			out = append(out, f.Name+"/"+f.Shorthand)
		}
	})
	sort.Strings(out)
	return out
}

// The flags of each verb are derived from the declaration: -n on the item
// verbs, the parent's flag and -w/-g everywhere, -f/--set on create, -y on
// delete, --include-secrets and the list filter where declared; the ML
// groups built on it keep az's flags.
func TestMLResourceDerivedFlags(t *testing.T) {
	ws := []string{"resource-group/g", "workspace-name/w"}
	item := append([]string{"box-name/b", "name/n"}, ws...)
	for _, tc := range []struct {
		path []string
		want []string
	}{
		{[]string{"ml", "widget", "create"}, append([]string{"file/f", "set/"}, item...)},
		{[]string{"ml", "widget", "show"}, append([]string{"include-secrets/"}, item...)},
		{[]string{"ml", "widget", "list"}, append([]string{"box-name/b", "kind/k"}, ws...)},
		{[]string{"ml", "widget", "delete"}, append([]string{"yes/y"}, item...)},
		{[]string{"ml", "widget", "start"}, item},
		{[]string{"ml", "widget", "list-keys"}, item},
		{[]string{"ml", "connection", "show"}, []string{"include-secrets/", "name/n", "resource-group/g", "workspace-name/w"}},
		{[]string{"ml", "compute", "list"}, []string{"resource-group/g", "type/t", "workspace-name/w"}},
		{[]string{"ml", "compute", "restart"}, []string{"name/n", "resource-group/g", "workspace-name/w"}},
		{[]string{"ml", "online-deployment", "delete"}, []string{"endpoint-name/e", "name/n", "resource-group/g", "workspace-name/w", "yes/y"}},
		{[]string{"ml", "online-deployment", "list"}, []string{"endpoint-name/e", "resource-group/g", "workspace-name/w"}},
		{[]string{"ml", "computetarget", "amlcompute", "identity", "remove"}, []string{"identities/", "name/n", "resource-group/g", "workspace-name/w"}},
		{[]string{"ml", "job", "create"}, []string{"file/f", "name/n", "resource-group/g", "set/", "stream/s", "workspace-name/w"}},
		{[]string{"ml", "job", "show"}, []string{"name/n", "resource-group/g", "workspace-name/w"}},
		{[]string{"ml", "job", "list"}, []string{"resource-group/g", "workspace-name/w"}},
		{[]string{"ml", "job", "cancel"}, []string{"name/n", "resource-group/g", "workspace-name/w"}},
		{[]string{"ml", "job", "download"}, []string{"all/", "download-path/p", "name/n", "output-name/", "resource-group/g", "workspace-name/w"}},
	} {
		a := &app{}
		root := a.rootCmd()
		ml, _, _ := root.Find([]string{"ml"})
		ml.AddCommand(a.mlResourceCmd(widgetResource))
		c, _, err := root.Find(tc.path)
		if err != nil || c.Name() != tc.path[len(tc.path)-1] {
			t.Fatalf("%v: not found (%v)", tc.path, err)
		}
		want := append([]string(nil), tc.want...)
		sort.Strings(want)
		if got := flagSet(c); !reflect.DeepEqual(got, want) {
			t.Errorf("amlid %s flags:\n got %v\nwant %v", strings.Join(tc.path, " "), got, want)
		}
	}
}

// Required flags are enforced in az's words, in az's order (parent, then
// name), and bad input exits 2 with a message naming what to fix, before
// any request.
func TestMLResourceUsageErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	noName := write("noname.yml", "size: 3\n")
	unknown := write("unknown.yml", "name: w\ncolour: red\n")
	notYAML := write("bad.yml", "name: [unclosed\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ml", "widget", "show"}, "the following arguments are required: --box-name/-b"},
		{[]string{"ml", "widget", "show", "-b", "box"}, "the following arguments are required: --name/-n"},
		{[]string{"ml", "widget", "delete", "-b", "box", "-y"}, "the following arguments are required: --name/-n"},
		{[]string{"ml", "widget", "start", "-b", "box"}, "the following arguments are required: --name/-n"},
		{[]string{"ml", "widget", "list"}, "the following arguments are required: --box-name/-b"},
		{[]string{"ml", "widget", "create", "-b", "box"}, "the following arguments are required: --file/-f"},
		{[]string{"ml", "widget", "create", "-b", "box", "-f", noName}, "the widget needs a name (name in the YAML, or --name)"},
		{[]string{"ml", "widget", "create", "-b", "box", "-f", unknown}, "the widget YAML has unknown field(s): colour (known: name, size)"},
		{[]string{"ml", "widget", "create", "-b", "box", "-f", notYAML}, "is not valid YAML"},
		{[]string{"ml", "widget", "create", "-b", "box", "-f", filepath.Join(dir, "missing.yml")}, "cannot read --file"},
		{[]string{"ml", "widget", "create", "-b", "box", "-f", noName, "--set", "size"}, "--set expects key.path=value"},
		{[]string{"ml", "widget", "show", "-b", "box", "-n", "w", "extra"}, `unknown command "extra"`},
		{[]string{"ml", "widget", "show", "--colour", "red"}, "unknown flag: --colour"},
		{[]string{"ml", "widget", "list", "--kind"}, "flag needs an argument"},
		{[]string{"ml", "connection", "show"}, "the following arguments are required: --name/-n"},
		{[]string{"ml", "datastore", "create"}, "the following arguments are required: --file/-f"},
		{[]string{"ml", "compute", "stop"}, "the following arguments are required: --name/-n"},
		{[]string{"ml", "online-deployment", "get-logs", "-n", "blue"}, "the following arguments are required: --endpoint-name/-e"},
		{[]string{"ml", "online-endpoint", "invoke"}, "the following arguments are required: --name/-n"},
		{[]string{"ml", "computetarget", "amlcompute", "identity", "assign"}, "the following arguments are required: --name/-n"},
		{[]string{"ml", "environment", "archive", "-n", "env"}, "the following arguments are required: --name/-n, --version/-v"},
		{[]string{"ml", "environment", "show", "-w", "ws", "-g", "rg"}, "the following arguments are required: --name/-n"},
		{[]string{"ml", "data", "show", "-w", "ws", "-g", "rg", "-v", "1"}, "the following arguments are required: --name/-n"},
		{[]string{"ml", "job", "show"}, "the following arguments are required: --name/-n"},
		{[]string{"ml", "job", "stream", "-w", "ws"}, "the following arguments are required: --name/-n"},
		{[]string{"ml", "job", "archive"}, "the following arguments are required: --name/-n"},
		{[]string{"ml", "job", "download", "-p", "."}, "the following arguments are required: --name/-n"},
		{[]string{"ml", "job", "create", "-f", filepath.Join(dir, "missing.yml")}, "cannot read --file"},
		{[]string{"ml", "job", "create", "-f", noName, "--set", "size"}, "--set expects key.path=value"},
		{[]string{"ad", "user", "show"}, `required flag(s) "id" not set`},
		{[]string{"ad", "group", "member", "add", "-g", "g"}, `required flag(s) "member-id" not set`},
	} {
		so, se, code := widgetCLI(t, tc.args...)
		if code != exitUsage || !strings.Contains(se, tc.want) || so != "" {
			t.Errorf("amlid %s: exit %d (want %d)\nstdout %q\nstderr %q\nwant it to say %q", strings.Join(tc.args, " "), code, exitUsage, so, se, tc.want)
		}
	}
}

// The group's help lists the derived verbs, and each verb's help says
// what its flags are for.
func TestMLResourceHelp(t *testing.T) {
	so, _, code := widgetCLI(t, "ml", "widget", "--help")
	for _, verb := range []string{"create", "show", "list", "delete", "start", "list-keys", "Manage widgets"} {
		if code != 0 || !strings.Contains(so, verb) {
			t.Errorf("amlid ml widget --help: exit %d, no %q:\n%s", code, verb, so)
		}
	}
	so, _, code = widgetCLI(t, "ml", "widget", "create", "--help")
	for _, s := range []string{"Create a widget from YAML", "YAML file of the widget", "Name of the widget", "Name of the box", "--set", "-o, --output", "--query"} {
		if code != 0 || !strings.Contains(so, s) {
			t.Errorf("amlid ml widget create --help: exit %d, no %q:\n%s", code, s, so)
		}
	}
}

// No flag's help has back quotes: pflag would print the quoted text as
// the flag's value name (`-g, --resource-group amlid configure …`).
func TestFlagHelpHasNoBackQuotes(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if strings.Contains(f.Usage, "`") {
				t.Errorf("amlid %s --%s: back quotes in %q", c.CommandPath(), f.Name, f.Usage)
			}
		})
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk((&app{}).rootCmd())
}
