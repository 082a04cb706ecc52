package registry_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// decodeAccess returns the access claim of a registry JWT as JSON.
func decodeAccess(t testing.TB, jwt string) string {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	must(t, err)
	var c struct {
		Access json.RawMessage `json:"access"`
	}
	must(t, json.Unmarshal(b, &c))
	return string(c.Access)
}
