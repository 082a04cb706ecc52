package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// repeatedOptionWarnings finds single-value options given twice with
// different values. As in az, the last one counts; the warning says so,
// because a snippet that names two things with one option (seed 003's
// `az ml compute show --name <cluster name> -n <workspace>`: -n is
// --name) otherwise fails later with a not-found naming the wrong
// resource. When the option is --name and the command also takes the
// workspace, the warning names the workspace's option.
func repeatedOptionWarnings(root *cobra.Command, args []string) []string {
	cmd, _, err := root.Find(args)
	if err != nil || cmd == nil {
		return nil
	}
	lookup := func(tok string) *pflag.Flag {
		fs := []*pflag.FlagSet{cmd.Flags(), cmd.InheritedFlags()}
		for _, f := range fs {
			if strings.HasPrefix(tok, "--") {
				if fl := f.Lookup(tok[2:]); fl != nil {
					return fl
				}
			} else if len(tok) == 2 {
				if fl := f.ShorthandLookup(tok[1:]); fl != nil {
					return fl
				}
			}
		}
		return nil
	}
	type seen struct {
		as, val string
	}
	first := map[string]seen{}
	var out []string
	for i := 0; i < len(args); i++ {
		tok := args[i]
		if tok == "--" {
			break
		}
		if !strings.HasPrefix(tok, "-") || tok == "-" {
			continue
		}
		name, val, hasVal := strings.Cut(tok, "=")
		fl := lookup(name)
		if fl == nil {
			continue
		}
		typ := fl.Value.Type()
		if strings.HasSuffix(typ, "Slice") || strings.HasSuffix(typ, "Array") || typ == "count" || typ == "stringToString" {
			continue
		}
		if !hasVal {
			if fl.NoOptDefVal != "" || i+1 >= len(args) {
				continue // a switch (--yes, --all-traffic)
			}
			i++
			val = args[i]
		}
		prev, ok := first[fl.Name]
		if !ok {
			first[fl.Name] = seen{name, val}
			continue
		}
		if prev.val == val {
			continue
		}
		w := fmt.Sprintf("%s was given twice ('%s' as %s, then '%s' as %s); as in az, the last one counts: '%s'.",
			optionNames(fl), prev.val, prev.as, val, name, val)
		if fl.Name == "name" {
			if ws := cmd.Flags().Lookup("workspace-name"); ws != nil {
				w += " To name the workspace, use " + optionNames(ws) + "."
			}
		}
		out = append(out, w)
		first[fl.Name] = seen{name, val}
	}
	return out
}

func optionNames(fl *pflag.Flag) string {
	if fl.Shorthand != "" {
		return "--" + fl.Name + "/-" + fl.Shorthand
	}
	return "--" + fl.Name
}

// containsArg reports whether args has arg before any `--`.
func containsArg(args []string, arg string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == arg {
			return true
		}
	}
	return false
}
