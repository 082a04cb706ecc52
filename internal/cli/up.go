package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/amlid/amlid/internal/server"
	"github.com/spf13/cobra"
)

func (a *app) upCmd() *cobra.Command {
	var o server.Options
	var logLevel string
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start amlid: token service, Resource Manager and data planes on localhost",
		Long: `Start every amlid service with embedded defaults: SQLite state and a local CA
in --data-dir (default ~/.amlid), HTTPS on 127.0.0.1. Stop with Ctrl-C (SIGINT) or
SIGTERM: in-flight requests drain and the store closes cleanly.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
				return usageErr("--log-level: %v", err)
			}
			o.Logger = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: lvl}))
			o.DataDir = a.dataDir
			start := time.Now()
			srv, err := server.Start(cmd.Context(), o)
			if err != nil {
				return &cliError{Message: err.Error(), Exit: exitError}
			}
			st := srv.State
			fmt.Fprintf(a.stdout, "amlid is up in %s (data dir %s, %s store)\n", time.Since(start).Round(time.Millisecond), srv.Opts.DataDir, st.StoreKind)
			fmt.Fprintf(a.stdout, "  Resource Manager   %s/\n", st.ARMURL)
			fmt.Fprintf(a.stdout, "  Entra (authority)  %s/%s   (also %s/adfs)\n", st.AuthorityHost, st.TenantID, st.AuthorityHost)
			fmt.Fprintf(a.stdout, "  Tenant             %s\n", st.TenantID)
			fmt.Fprintf(a.stdout, "  Subscription       %s\n", st.SubscriptionID)
			fmt.Fprintf(a.stdout, "  Blob storage       %s/<account>/\n", st.BlobURL)
			fmt.Fprintf(a.stdout, "  Managed identity   %s/msi/  (per workload: amlid run --as …)\n", st.MSIURL)
			fmt.Fprintf(a.stdout, "  CA certificate     %s\n", st.CAFile)
			fmt.Fprintf(a.stdout, "  Identities page    %s   (amlid open; sign in as a directory user)\n", st.WebURL)
			if st.VaultProxyURL != "" {
				fmt.Fprintf(a.stdout, "  Azure host names   %s  (HTTPS proxy: management.azure.com, *.blob.core.windows.net, *.vault.azure.net, …)\n", st.VaultProxyURL)
			}
			fmt.Fprintf(a.stdout, "Point clients at it with:  eval \"$(amlid env --data-dir %s)\"   (Azure's host names: add --azure-hostnames)\n", srv.Opts.DataDir)
			if f, ok := a.stdout.(*os.File); ok {
				f.Sync()
			}
			err = srv.Wait(cmd.Context())
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			o.Logger.Info("shutting down: draining requests")
			if cerr := srv.Close(ctx); cerr != nil && err == nil {
				err = cerr
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Store, "store", "", "State store: empty for SQLite in the data dir, sqlite:///path/amlid.db, postgres://…, or memory:")
	f.StringVar(&o.Host, "host", "127.0.0.1", "Address to listen on")
	f.IntVar(&o.Port, "port", 8443, "HTTPS port of Resource Manager, Entra and Graph (-1: any free port)")
	f.IntVar(&o.BlobPort, "blob-port", 8444, "HTTPS port of Blob storage, path-style /<account>/<container>/<blob> (-1: any free port)")
	f.IntVar(&o.ResourcePortBase, "resource-port-base", 8500, "First port of the per-resource HTTPS ports: one per key vault and per container registry (-1: any free port)")
	f.StringVar(&o.Python, "python", "/usr/bin/python3", "Python interpreter that runs online deployments' scoring code (their conda_file is recorded, not installed)")
	f.StringVar(&o.WorkloadSandbox, "workload-sandbox", envOr("AMLID_WORKLOAD_SANDBOX", "auto"), "How workload code (scoring scripts) runs: auto (bubblewrap when it can run, else unsandboxed with a warning), bwrap (bubblewrap or refuse to start), off (as amlid's OS user; env AMLID_WORKLOAD_SANDBOX)")
	f.IntVar(&o.MSIPort, "msi-port", 46808, "Loopback http port of the managed-identity endpoints (-1: any free port)")
	f.StringVar(&o.RBAC, "rbac", "enforce", "RBAC mode: enforce, or audit (allow, but record what enforce would refuse)")
	f.DurationVar(&o.ComputeMinute, "compute-minute", time.Minute, "How long an idle minute lasts for computes (idle shutdown, node scale-down); shorten it to test")
	f.StringVar(&logLevel, "log-level", "info", "Log level: debug, info, warn, error")
	return cmd
}

// envOr is the environment variable k, or def when it is unset or empty.
func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
