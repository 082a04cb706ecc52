// Command amlid is a self-hosted, Azure-compatible emulator of Azure Machine
// Learning's identity system. See the README.
package main

import (
	"os"

	"github.com/amlid/amlid/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
