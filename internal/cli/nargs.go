package cli

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// aznargs.json lists, per command amlid mirrors, the options Debian's az
// 2.45 declares with nargs='+' or '*': they take every following word up to
// the next option (`--secret-permissions get list set`). It is generated
// from az's own command table by testdata/az_nargs.py, never typed by hand:
// TestAzNargsMatchesAz regenerates it (AMLID_UPDATE_AZNARGS=1 rewrites it)
// and fails when it differs.
//
//go:embed aznargs.json
var azNargsJSON []byte

// azNargsOption is one multi-value option of an az command.
type azNargsOption struct {
	Options []string `json:"options"` // "--secret-permissions", and short forms ("-d")
	Nargs   string   `json:"nargs"`   // "+" (one or more) or "*" (zero or more)
}

var azNargs = func() map[string][]azNargsOption {
	m := map[string][]azNargsOption{}
	if err := json.Unmarshal(azNargsJSON, &m); err != nil {
		panic("aznargs.json: " + err.Error())
	}
	return m
}()

// commandKey is a command's path without the program name ("keyvault set-policy").
func commandKey(c *cobra.Command) string {
	p := c.CommandPath()
	if i := strings.IndexByte(p, ' '); i >= 0 {
		return p[i+1:]
	}
	return ""
}

// expandNargs rewrites az's space-separated values of a multi-value option
// into repeated options, which pflag's slice flags accumulate:
// `--secret-permissions get list` → `--secret-permissions get
// --secret-permissions list`. A '*' option with no value becomes `--opt=`
// (an empty list). A multi-value option that amlid keeps as one string
// flag (`role assignment delete --ids`, `storage account create --bypass`)
// gets its values joined by spaces, which its command splits. Words after
// `--` are left alone.
func expandNargs(root *cobra.Command, args []string) []string {
	cmd, _, err := root.Find(args)
	if err != nil || cmd == nil {
		return args
	}
	opts := map[string]string{}
	for _, o := range azNargs[commandKey(cmd)] {
		for _, name := range o.Options {
			opts[name] = o.Nargs
		}
	}
	if len(opts) == 0 {
		return args
	}
	out := make([]string, 0, len(args)+4)
	for i := 0; i < len(args); i++ {
		tok := args[i]
		if tok == "--" {
			return append(out, args[i:]...)
		}
		name, val, hasVal := strings.Cut(tok, "=")
		nargs, multi := opts[name]
		if !multi || !strings.HasPrefix(tok, "-") {
			out = append(out, tok)
			continue
		}
		var values []string
		if hasVal {
			values = append(values, val)
		}
		for i+1 < len(args) && !isOptionWord(args[i+1]) {
			i++
			values = append(values, args[i])
		}
		if len(values) == 0 {
			if nargs == "*" {
				out = append(out, name+"=")
			} else {
				out = append(out, tok) // pflag says the flag needs an argument
			}
			continue
		}
		if isStringFlag(cmd, name) {
			out = append(out, name+"="+strings.Join(values, " "))
			continue
		}
		for _, v := range values {
			out = append(out, name+"="+v)
		}
	}
	return out
}

// isOptionWord is what ends a run of values, as in argparse: a word that
// starts with '-' and is not a negative number.
func isOptionWord(s string) bool {
	if s == "--" {
		return true
	}
	if !strings.HasPrefix(s, "-") || s == "-" {
		return false
	}
	rest := s[1:]
	return rest == "" || !(rest[0] >= '0' && rest[0] <= '9' || rest[0] == '.')
}

// unknownSubcommand reports `amlid ml compute create …` (a command group
// with no such command) as an unknown command, before flag parsing would
// call its flags unknown.
func unknownSubcommand(root *cobra.Command, args []string) error {
	cmd, rest, err := root.Find(args)
	if err != nil || cmd == nil || cmd == root || !cmd.HasAvailableSubCommands() || (cmd.Runnable() && cmd.Args != nil) {
		return nil
	}
	word := firstPositional(cmd, rest)
	if word == "" || word == "help" {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", word, cmd.CommandPath())
	if s := cmd.SuggestionsFor(word); len(s) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
	}
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	sort.Strings(names)
	msg += fmt.Sprintf("\n%q has: %s. Run '%s --help' for usage.", cmd.CommandPath(), strings.Join(names, ", "), cmd.CommandPath())
	return usageErr("%s", msg)
}

// firstPositional is the first word of args that is neither an option nor
// the value of one.
func firstPositional(cmd *cobra.Command, args []string) string {
	flags := cmd.Flags()
	flags.AddFlagSet(cmd.InheritedFlags())
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return ""
		case strings.HasPrefix(a, "--"):
			if !strings.Contains(a, "=") && takesValue(flags.Lookup(a[2:])) {
				i++
			}
		case strings.HasPrefix(a, "-") && len(a) == 2:
			if takesValue(flags.ShorthandLookup(a[1:])) {
				i++
			}
		case strings.HasPrefix(a, "-"):
		default:
			return a
		}
	}
	return ""
}

func takesValue(f *pflag.Flag) bool { return f != nil && f.NoOptDefVal == "" }

// isStringFlag: the option (long or short form) is a plain string flag of cmd.
func isStringFlag(cmd *cobra.Command, opt string) bool {
	var f *pflag.Flag
	if long, ok := strings.CutPrefix(opt, "--"); ok {
		f = cmd.Flags().Lookup(long)
		if f == nil {
			f = cmd.InheritedFlags().Lookup(long)
		}
	} else {
		f = cmd.Flags().ShorthandLookup(strings.TrimPrefix(opt, "-"))
	}
	return f != nil && f.Value.Type() == "string"
}
