package cli

import (
	"fmt"
	"os"
	"os/exec"

	"github.com/amlid/amlid/internal/server"
	"github.com/spf13/cobra"
)

// openCmd prints the page of identities and access and opens it in a
// browser when one is at hand (issue 22).
func (a *app) openCmd() *cobra.Command {
	var noBrowser bool
	cmd := &cobra.Command{
		Use:   "open",
		Short: "Open the web page of identities and access (prints its URL)",
		Long: `Print the URL of the running amlid's page of identities and access and open it
with xdg-open when a desktop session is present. Sign in there as a directory user
(amlid ad user create …); the page shows only what that user may read.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := server.ReadState(a.dataDirOrDefault())
			if err != nil {
				return &cliError{Message: err.Error(), Exit: exitError}
			}
			if st.WebURL == "" {
				return &cliError{Message: "this amlid does not serve the web page (restart it with a newer amlid)", Exit: exitError}
			}
			fmt.Fprintln(a.stdout, st.WebURL)
			if noBrowser || (os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "") {
				return nil
			}
			if p, err := exec.LookPath("xdg-open"); err == nil {
				c := exec.Command(p, st.WebURL)
				if err := c.Start(); err == nil {
					go c.Wait()
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&noBrowser, "no-browser", false, "Only print the URL")
	return cmd
}
