package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/amlid/amlid/internal/server"
)

// Settings is the CLI's own state (AMLID_CONFIG_DIR/config.json): defaults
// set by `amlid configure` and the current subscription. Credentials live
// next to it in a 0600 file (see auth.go).
type Settings struct {
	Defaults     map[string]string `json:"defaults,omitempty"` // group, workspace, location
	Subscription string            `json:"subscription,omitempty"`
}

// configDir is AMLID_CONFIG_DIR, else ~/.amlid/cli.
func configDir() string {
	if d := os.Getenv("AMLID_CONFIG_DIR"); d != "" {
		return d
	}
	return filepath.Join(server.DefaultDataDir(), "cli")
}

func loadSettings() (*Settings, error) {
	var s Settings
	b, err := os.ReadFile(filepath.Join(configDir(), "config.json"))
	if errors.Is(err, os.ErrNotExist) {
		return &s, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("corrupt %s: %w", filepath.Join(configDir(), "config.json"), err)
	}
	return &s, nil
}

func saveSettings(s *Settings) error {
	return writePrivate(filepath.Join(configDir(), "config.json"), s)
}

// writePrivate writes v as JSON with mode 0600, atomically.
func writePrivate(path string, v any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// defaultValue returns a configured default (group, workspace, location).
func (s *Settings) defaultValue(k string) string {
	if s == nil {
		return ""
	}
	return s.Defaults[strings.ToLower(k)]
}
