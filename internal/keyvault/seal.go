package keyvault

// Encryption at rest: secret values are sealed (package seal: AES-256-GCM,
// key in a file outside the store) with the secret's identity (vault ID,
// name, version) as additional data, so a sealed value copied onto another
// secret's record does not open. The store never holds a value in clear; a
// stolen database without the key file reveals names and attributes only.

import (
	"encoding/base64"
	"strings"
)

// base64URL re-encodes a std-base64 string as unpadded base64url (the
// backup blob's wire form); fromBase64URL undoes it.
func base64URL(std string) string {
	b, _ := base64.StdEncoding.DecodeString(std)
	return base64.RawURLEncoding.EncodeToString(b)
}

func fromBase64URL(s string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}
