package cli

import (
	"strings"

	"github.com/spf13/cobra"
)

func (a *app) configureCmd() *cobra.Command {
	var defaults []string
	var list bool
	cmd := &cobra.Command{
		Use:   "configure",
		Short: "Manage CLI defaults (group, workspace, location)",
		Long: `Set defaults as az does: amlid configure --defaults group=rg workspace=ws location=eastus.
An empty value (group=) removes a default. They are kept in $AMLID_CONFIG_DIR/config.json.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			// az takes --defaults a=1 b=2 (nargs='+').
			defaults, err := setArgs(defaults, args)
			if err != nil {
				return err
			}
			if a.settings.Defaults == nil {
				a.settings.Defaults = map[string]string{}
			}
			for _, d := range defaults {
				for _, kv := range strings.Fields(d) {
					k, v, ok := strings.Cut(kv, "=")
					if !ok || k == "" {
						return usageErr("usage error: --defaults KEY=VALUE [KEY=VALUE ...]")
					}
					k = strings.ToLower(k)
					if w := unreadDefault(k); w != "" && v != "" {
						a.warnf("%s", w)
					}
					if v == "" {
						delete(a.settings.Defaults, k)
					} else {
						a.settings.Defaults[k] = v
					}
				}
			}
			if len(defaults) > 0 {
				if err := saveSettings(a.settings); err != nil {
					return err
				}
			}
			if list || len(defaults) == 0 {
				out := []any{}
				for k, v := range a.settings.Defaults {
					out = append(out, map[string]any{"name": k, "source": configDir() + "/config.json", "value": v})
				}
				return a.print(out)
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVarP(&defaults, "defaults", "d", nil, "Space-separated 'name=value' pairs for common arguments")
	cmd.Flags().BoolVarP(&list, "list-defaults", "l", false, "List defaults")
	cmd.Flags().String("scope", "global", "Scope of defaults (only global is supported)")
	return cmd
}

// readDefaults are the defaults amlid's commands read.
var readDefaults = []string{"group", "workspace", "location"}

// unreadDefault returns a warning for a default no command reads (az keeps
// any name silently; a misspelt one, such as seed 002's
// `gitworkspace=<workspace>`, then surfaces as a missing argument much
// later), naming the default it most likely means. The default is kept, as
// az does.
func unreadDefault(k string) string {
	for _, r := range readDefaults {
		if k == r {
			return ""
		}
	}
	msg := "amlid reads no default named '" + k + "' (it reads group, workspace and location); it is kept but has no effect."
	for _, r := range readDefaults {
		if strings.Contains(k, r) || strings.Contains(r, k) {
			return msg + " Did you mean " + r + "=…?"
		}
	}
	return msg
}
