package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// leafCommands are the runnable commands of amlid's tree, by key.
func leafCommands(root *cobra.Command) map[string]*cobra.Command {
	out := map[string]*cobra.Command{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Runnable() && c != root {
			out[commandKey(c)] = c
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	return out
}

// Every option that Debian's az 2.45 declares with nargs='+' or '*' in the
// commands amlid mirrors is in aznargs.json (the list comes from az's
// command table, loaded by testdata/az_nargs.py), and each one amlid
// declares takes az's space-separated values.
func TestAzNargsMatchesAz(t *testing.T) {
	root := (&app{stdout: io.Discard, stderr: io.Discard}).rootCmd()
	leaves := leafCommands(root)
	var keys []string
	for k := range leaves {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	compat, _ := filepath.Abs(filepath.Join("..", "..", "scripts", "az-compat"))
	cmd := exec.Command("/usr/bin/python3", append([]string{filepath.Join("testdata", "az_nargs.py")}, keys...)...)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+compat, "AZURE_CONFIG_DIR="+t.TempDir())
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if err := cmd.Run(); err != nil {
		t.Fatalf("az_nargs.py: %v\n%s", err, se.String())
	}
	var got struct {
		Nargs   map[string][]azNargsOption `json:"nargs"`
		Unknown []string                   `json:"unknown"`
		Errors  map[string]string          `json:"errors"`
	}
	if err := json.Unmarshal(so.Bytes(), &got); err != nil {
		t.Fatalf("az_nargs.py output: %v\n%s", err, so.String())
	}
	if len(got.Errors) > 0 {
		t.Errorf("az could not load the arguments of commands amlid mirrors: %v", got.Errors)
	}
	if len(got.Nargs) == 0 || len(got.Nargs["keyvault set-policy"]) == 0 {
		t.Fatalf("az's command table yielded no multi-value options for keyvault set-policy: %s", so.String())
	}
	if os.Getenv("AMLID_UPDATE_AZNARGS") == "1" {
		b, _ := json.MarshalIndent(got.Nargs, "", " ")
		if err := os.WriteFile("aznargs.json", append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("aznargs.json rewritten: %d commands", len(got.Nargs))
	} else if !reflect.DeepEqual(got.Nargs, azNargs) {
		t.Fatalf("aznargs.json differs from az's command table; regenerate it with\n"+
			"  AMLID_UPDATE_AZNARGS=1 go test ./internal/cli -run TestAzNargsMatchesAz\naz says: %s", so.String())
	}

	var undeclared []string
	for key, opts := range got.Nargs {
		c := leaves[key]
		for _, o := range opts {
			long := strings.TrimPrefix(o.Options[0], "--")
			f := c.Flags().Lookup(long)
			if f == nil {
				undeclared = append(undeclared, key+" "+o.Options[0])
				continue
			}
			t.Run(key+" "+o.Options[0], func(t *testing.T) {
				typ := f.Value.Type()
				if typ != "stringSlice" && typ != "stringArray" && typ != "string" {
					t.Fatalf("az takes nargs=%q for %s, but amlid's flag is a %s", o.Nargs, o.Options[0], typ)
				}
				for _, form := range o.Options {
					// A fresh tree per parse: flag values accumulate.
					r := (&app{stdout: io.Discard, stderr: io.Discard}).rootCmd()
					args := append(strings.Fields(key), form, "v1", "v2", "v3", "--only-show-errors")
					args = expandNargs(r, args)
					c, rest, err := r.Find(args)
					if err != nil {
						t.Fatal(err)
					}
					if err := c.ParseFlags(rest); err != nil {
						t.Fatalf("%s %s v1 v2 v3: %v (args %q)", key, form, err, args)
					}
					var vals []string
					switch typ {
					case "stringSlice":
						vals, _ = c.Flags().GetStringSlice(long)
					case "stringArray":
						vals, _ = c.Flags().GetStringArray(long)
					default: // one string the command splits on spaces
						s, _ := c.Flags().GetString(long)
						vals = strings.Fields(s)
					}
					if !reflect.DeepEqual(vals, []string{"v1", "v2", "v3"}) || len(c.Flags().Args()) != 0 {
						t.Fatalf("%s %s v1 v2 v3: values %q, positional %q", key, form, vals, c.Flags().Args())
					}
				}
			})
		}
	}
	sort.Strings(undeclared)
	t.Logf("az multi-value options amlid does not declare (yet): %s", strings.Join(undeclared, ", "))
}

// The user's exact command from issue 16.
func TestKeyvaultSetPolicySpaceSeparated(t *testing.T) {
	r := (&app{stdout: io.Discard, stderr: io.Discard}).rootCmd()
	args := expandNargs(r, strings.Fields("keyvault set-policy -n V --object-id O --secret-permissions get list set delete --key-permissions"))
	c, rest, err := r.Find(args)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ParseFlags(rest); err != nil {
		t.Fatal(err)
	}
	secrets, _ := c.Flags().GetStringSlice("secret-permissions")
	keys, _ := c.Flags().GetStringSlice("key-permissions")
	name, _ := c.Flags().GetString("name")
	if !reflect.DeepEqual(secrets, []string{"get", "list", "set", "delete"}) || len(keys) != 0 || !c.Flags().Changed("key-permissions") || name != "V" {
		t.Fatalf("secret %q key %q (changed %v) name %q", secrets, keys, c.Flags().Changed("key-permissions"), name)
	}
}

// A command amlid does not have (`amlid ml batch-endpoint create --name x`):
// "unknown command", as az says, not "unknown flag"; and never a silent
// help page.
func TestUnknownCommand(t *testing.T) {
	for _, args := range [][]string{
		{"ml", "batch-endpoint", "create", "--name", "x", "--size", "Standard_DS3_v2"},
		{"ml", "batch-endpoint", "list"},
		{"keyvault", "certificate", "list", "--vault-name", "v"},
		{"ml", "-o", "json", "batch-endpoint", "list"},
	} {
		var stderr bytes.Buffer
		code := Main(args, strings.NewReader(""), io.Discard, &stderr)
		if code != exitUsage || !strings.Contains(stderr.String(), `unknown command "`+args[1]) && !strings.Contains(stderr.String(), `unknown command "batch-endpoint"`) ||
			strings.Contains(stderr.String(), "unknown flag") {
			t.Errorf("amlid %s: exit %d\n%s", strings.Join(args, " "), code, stderr.String())
		}
	}
	// A group alone still prints its help.
	var stdout bytes.Buffer
	if code := Main([]string{"ml"}, strings.NewReader(""), &stdout, io.Discard); code != 0 || !strings.Contains(stdout.String(), "online-endpoint") {
		t.Errorf("amlid ml: exit %d\n%s", code, stdout.String())
	}
}
