package server

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// State is what a running amlid publishes in its data directory for the CLI
// and `amlid env` (state.json): where it listens and which IDs it serves.
type State struct {
	PID            int    `json:"pid"`
	ARMURL         string `json:"armUrl"`        // https://127.0.0.1:8443
	AuthorityHost  string `json:"authorityHost"` // https://127.0.0.1:8443 (Entra endpoints live at /{tenant}/…)
	GraphURL       string `json:"graphUrl"`      // https://127.0.0.1:8443 (/v1.0/…)
	TenantID       string `json:"tenantId"`
	SubscriptionID string `json:"subscriptionId"`
	CAFile         string `json:"caFile"`    // amlid's CA alone
	CABundle       string `json:"caBundle"`  // system roots + amlid's CA
	StoreKind      string `json:"storeKind"` // sqlite | postgres | memory
	MSIURL         string `json:"msiUrl"`    // http://127.0.0.1:46808, the managed-identity endpoints
	BlobURL        string `json:"blobUrl"`   // https://127.0.0.1:8444, path-style Blob storage
	WebURL         string `json:"webUrl"`    // https://127.0.0.1:8443/amlid/web/, the page of identities and access
	// VaultProxyURL is the CONNECT proxy that reaches key vaults as
	// {vault}.vault.azure.net (HTTPS_PROXY for Debian's az; keyvault issue 8).
	VaultProxyURL string `json:"vaultProxyUrl,omitempty"`
}

// Bootstrap is the bootstrap admin service principal's credentials
// (bootstrap.json, mode 0600). Only its hash is in the store.
type Bootstrap struct {
	TenantID       string `json:"tenantId"`
	SubscriptionID string `json:"subscriptionId"`
	ClientID       string `json:"clientId"`
	ClientSecret   string `json:"clientSecret"`
	ObjectID       string `json:"objectId"`
}

// File names in the data directory.
const (
	StateFile     = "state.json"
	BootstrapFile = "bootstrap.json"
	LockFile      = "amlid.lock"
	TLSDir        = "tls"
)

// ReadState reads dir/state.json.
func ReadState(dir string) (*State, error) {
	var s State
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("amlid is not running with data dir %s (no %s); start it with `amlid up --data-dir %s`", dir, StateFile, dir)
		}
		return nil, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("corrupt %s: %w", filepath.Join(dir, StateFile), err)
	}
	return &s, nil
}

// ReadBootstrap reads dir/bootstrap.json.
func ReadBootstrap(dir string) (*Bootstrap, error) {
	var b Bootstrap
	raw, err := os.ReadFile(filepath.Join(dir, BootstrapFile))
	if err != nil {
		return nil, err
	}
	return &b, json.Unmarshal(raw, &b)
}

func writeJSONFile(path string, v any, mode os.FileMode) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), mode); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// DefaultDataDir is ~/.amlid.
func DefaultDataDir() string {
	if d := os.Getenv("AMLID_DATA_DIR"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return ".amlid"
	}
	return filepath.Join(home, ".amlid")
}

// storeKind names the backend of a store URL.
func storeKind(url string) string {
	switch {
	case url == "memory:" || url == "memory":
		return "memory"
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return "postgres"
	}
	return "sqlite"
}
