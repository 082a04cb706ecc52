// Package cli is amlid's command line. Its commands mirror Azure CLI's:
// replace `az` by `amlid` in a command from the docs and it works, with the
// same flags, output formats and --query. The CLI talks to a running amlid
// over HTTPS like any client; it never opens the store.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/amlid/amlid/internal/cli/output"
	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
)

// app carries the global flags and the lazily resolved server target.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer

	output       string
	query        string
	subscription string
	debug        bool
	verbose      bool
	onlyErrors   bool
	dataDir      string

	settings *Settings
	tgt      *target
}

// Main runs the CLI and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	return a.execute(a.rootCmd(), args)
}

// execute runs root with args and returns the exit code, printing errors
// as az does.
func (a *app) execute(root *cobra.Command, args []string) int {
	stdin, stdout, stderr := a.stdin, a.stdout, a.stderr
	if err := unknownSubcommand(root, args); err != nil {
		fmt.Fprintf(stderr, "ERROR: %s\n", err)
		return exitUsage
	}
	args = expandNargs(root, args)
	if !containsArg(args, "--only-show-errors") {
		for _, w := range repeatedOptionWarnings(root, args) {
			fmt.Fprintf(stderr, "WARNING: %s\n", w)
		}
	}
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ce *cliError
	if errors.As(err, &ce) {
		fmt.Fprintf(stderr, "ERROR: %s\n", ce.Error())
		return ce.Exit
	}
	var ee *exitCode
	if errors.As(err, &ee) {
		return ee.code
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "flag needs an argument: ") && len(args) > 0 && strings.HasPrefix(args[len(args)-1], "-") {
		// The option ends the line with no value: in a script, most often a
		// variable the script never set (seed 002's --scope $storage_id).
		msg += " (it ends the command with no value: was a shell variable empty or unset?)"
	}
	fmt.Fprintf(stderr, "ERROR: %s\n", msg)
	if isUsage(err) {
		return exitUsage
	}
	return exitError
}

// exitCode is returned by commands that only want a status (amlid run).
type exitCode struct{ code int }

func (e *exitCode) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func isUsage(err error) bool {
	s := err.Error()
	return strings.Contains(s, "unknown flag") || strings.Contains(s, "unknown command") ||
		strings.Contains(s, "required flag") || strings.Contains(s, "accepts ") || strings.Contains(s, "invalid argument") ||
		strings.Contains(s, "flag needs an argument")
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "amlid",
		Short:         "A self-hosted, Azure-compatible emulator of Azure ML managed identities, RBAC and the services they reach",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if _, err := output.ParseFormat(a.output); err != nil {
				return usageErr("%v", err)
			}
			s, err := loadSettings()
			if err != nil {
				return err
			}
			a.settings = s
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVarP(&a.output, "output", "o", "json", "Output format: json, jsonc, none, table, tsv, yaml, yamlc")
	pf.StringVar(&a.query, "query", "", "JMESPath query string, as in az (http://jmespath.org)")
	pf.StringVar(&a.subscription, "subscription", "", "Name or ID of subscription")
	pf.BoolVar(&a.debug, "debug", false, "Increase logging verbosity to show all debug logs")
	pf.BoolVar(&a.verbose, "verbose", false, "Increase logging verbosity")
	pf.BoolVar(&a.onlyErrors, "only-show-errors", false, "Only show errors, suppressing warnings")
	pf.StringVar(&a.dataDir, "data-dir", "", "amlid's data directory (default $AMLID_DATA_DIR or ~/.amlid)")
	root.AddCommand(
		a.upCmd(), a.openCmd(), a.envCmd(), a.groupCmd(), a.identityCmd(), a.configureCmd(), a.accountCmd(),
	)
	for _, c := range extraCommands {
		root.AddCommand(c(a))
	}
	return root
}

// extraCommands lets capability files add top-level commands.
var extraCommands []func(a *app) *cobra.Command

func (a *app) debugf(format string, args ...any) {
	if a.debug {
		fmt.Fprintf(a.stderr, "DEBUG: "+format+"\n", args...)
	}
}

func (a *app) warnf(format string, args ...any) {
	if !a.onlyErrors {
		fmt.Fprintf(a.stderr, "WARNING: "+format+"\n", args...)
	}
}

func (a *app) target() (*target, error) {
	if a.tgt == nil {
		t, err := resolveTarget(a.dataDir)
		if err != nil {
			return nil, err
		}
		a.tgt = t
	}
	return a.tgt, nil
}

// print renders a result with -o and --query.
func (a *app) print(v any) error {
	f, err := output.ParseFormat(a.output)
	if err != nil {
		return usageErr("%v", err)
	}
	color := false
	if fd, ok := a.stdout.(*os.File); ok {
		color = isatty.IsTerminal(fd.Fd())
	}
	if err := output.Render(a.stdout, v, f, a.query, color); err != nil {
		var oe *output.Error
		if errors.As(err, &oe) {
			msg := oe.Message
			for _, r := range oe.Recommendations {
				msg += "\n" + r
			}
			code := oe.ExitCode
			if code == 0 {
				code = exitError
			}
			return &cliError{Message: msg, Exit: code}
		}
		return usageErr("%v", err)
	}
	return nil
}

// subscriptionID is --subscription, else the CLI's current one, else the
// server's default.
func (a *app) subscriptionID() (string, error) {
	if a.subscription != "" {
		return a.subscription, nil
	}
	if a.settings != nil && a.settings.Subscription != "" {
		return a.settings.Subscription, nil
	}
	if p, _ := loadProfile(); p != nil && p.Subscription != "" {
		return p.Subscription, nil
	}
	t, err := a.target()
	if err != nil {
		return "", err
	}
	if t.Subscription == "" {
		return "", usageErr("no subscription: pass --subscription or run `amlid account set`")
	}
	return t.Subscription, nil
}

// resourceGroup returns -g or the configured default group.
func (a *app) resourceGroup(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if g := a.settings.defaultValue("group"); g != "" {
		return g, nil
	}
	return "", usageErr("the following arguments are required: --resource-group/-g")
}

// confirm asks "Are you sure…" unless yes; without a terminal it refuses.
func (a *app) confirm(yes bool) error {
	if yes {
		return nil
	}
	f, ok := a.stdin.(*os.File)
	if !ok || !isatty.IsTerminal(f.Fd()) {
		return usageErr("this command needs confirmation: pass --yes (-y) when not run interactively")
	}
	fmt.Fprint(a.stderr, "Are you sure you want to perform this operation? (y/n): ")
	var ans string
	fmt.Fscanln(a.stdin, &ans)
	if !strings.EqualFold(strings.TrimSpace(ans), "y") && !strings.EqualFold(strings.TrimSpace(ans), "yes") {
		return &exitCode{code: 0}
	}
	return nil
}
