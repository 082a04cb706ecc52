package directory

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strconv"
	"strings"
)

// Credential hashes are self-describing strings "<algorithm>$<params…>" so the
// algorithm or its cost can change later without breaking stored records:
//
//	sha256$<salt>$<digest>                  client secrets (HashSecret)
//	pbkdf2-sha256$<iterations>$<salt>$<key> user passwords (HashPassword)
//
// Salt and digest are unpadded base64url.
//
// Why two algorithms: a client secret made by NewSecret carries ~200 bits of
// randomness, so a brute-force search is hopeless whatever the hash costs; a
// salted SHA-256 is enough and keeps client-credential grants fast (the token
// endpoint checks the secret on every request, also when it then answers from
// its token cache). A user password is chosen by a human and may be weak, so
// it is stretched with PBKDF2-HMAC-SHA256 at PasswordIterations rounds, the
// OWASP 2023 figure for that PRF (~100 ms per check on a 2-core test
// machine); password checks happen once per sign-in, not per token.
const (
	algSHA256       = "sha256"
	algPBKDF2SHA256 = "pbkdf2-sha256"

	// PasswordIterations is the PBKDF2 round count HashPassword uses.
	PasswordIterations = 600_000
	// MinPasswordIterations is the floor HashPasswordWithIterations applies.
	MinPasswordIterations = 1000

	saltLen = 16
	keyLen  = 32
)

var hashB64 = base64.RawURLEncoding

func newSalt() []byte {
	salt := make([]byte, saltLen)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails (Go 1.24+)
	return salt
}

func sha256Salted(salt []byte, secret string) []byte {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(secret))
	return h.Sum(nil)
}

// HashSecret returns the stored form of a high-entropy client secret: a
// salted SHA-256 (see the package comment above for why that is enough).
func HashSecret(secret string) string {
	salt := newSalt()
	return algSHA256 + "$" + hashB64.EncodeToString(salt) + "$" + hashB64.EncodeToString(sha256Salted(salt, secret))
}

// HashPassword returns the stored form of a user password:
// PBKDF2-HMAC-SHA256 with PasswordIterations rounds and a random salt.
func HashPassword(password string) string {
	return HashPasswordWithIterations(password, PasswordIterations)
}

// HashPasswordWithIterations is HashPassword with an explicit round count
// (at least MinPasswordIterations). It exists for test fixtures: under the
// race detector one check at PasswordIterations costs about a second.
// CheckSecret reads the count from the hash, so both kinds verify alike.
func HashPasswordWithIterations(password string, iterations int) string {
	iterations = max(iterations, MinPasswordIterations)
	salt := newSalt()
	dk, err := pbkdf2.Key(sha256.New, password, salt, iterations, keyLen)
	if err != nil { // only for parameters outside FIPS bounds; ours are fixed
		panic("directory: pbkdf2: " + err.Error())
	}
	return algPBKDF2SHA256 + "$" + strconv.Itoa(iterations) + "$" + hashB64.EncodeToString(salt) + "$" + hashB64.EncodeToString(dk)
}

// CheckSecret reports whether secret matches hash, which HashSecret or
// HashPassword produced. The digest comparison is constant-time; an
// unknown or malformed hash never matches.
func CheckSecret(hash, secret string) bool {
	parts := strings.Split(hash, "$")
	switch {
	case len(parts) == 3 && parts[0] == algSHA256:
		salt, err1 := hashB64.DecodeString(parts[1])
		want, err2 := hashB64.DecodeString(parts[2])
		if err1 != nil || err2 != nil || len(want) != sha256.Size {
			return false
		}
		return subtle.ConstantTimeCompare(sha256Salted(salt, secret), want) == 1
	case len(parts) == 4 && parts[0] == algPBKDF2SHA256:
		iter, err := strconv.Atoi(parts[1])
		if err != nil || iter < 1 || iter > 10_000_000 {
			return false
		}
		salt, err1 := hashB64.DecodeString(parts[2])
		want, err2 := hashB64.DecodeString(parts[3])
		if err1 != nil || err2 != nil || len(want) == 0 || len(want) > 64 {
			return false
		}
		got, err := pbkdf2.Key(sha256.New, secret, salt, iter, len(want))
		if err != nil {
			return false
		}
		return subtle.ConstantTimeCompare(got, want) == 1
	}
	return false
}

// secretAlphabet is the character set of Entra client secrets.
const secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.~"

// NewSecret returns a fresh client secret shaped like Entra's: 40
// characters, "<3 chars>8Q~<34 chars>" (the 3-character prefix is the hint
// Entra shows; "8Q~" marks the secret format version). 37 random characters
// from a 66-symbol alphabet give ~223 bits of entropy.
func NewSecret() string {
	const n = 37
	var out [40]byte
	buf := make([]byte, 0, n)
	// Rejection sampling keeps the distribution uniform: 66*3 = 198 < 256.
	var rb [64]byte
	for len(buf) < n {
		_, _ = rand.Read(rb[:])
		for _, b := range rb {
			if int(b) < 3*len(secretAlphabet) && len(buf) < n {
				c := secretAlphabet[int(b)%len(secretAlphabet)]
				// A leading '-' or '.' would read as a flag to az and
				// other CLIs ("-p -abc"): the first character is
				// alphanumeric, as in Entra's secrets.
				if len(buf) == 0 && !isAlnum(c) {
					continue
				}
				buf = append(buf, c)
			}
		}
	}
	copy(out[:3], buf[:3])
	copy(out[3:6], "8Q~")
	copy(out[6:], buf[3:])
	return string(out[:])
}

// SecretHint is the part of a secret Entra keeps in clear (SecretCredential.Hint).
func SecretHint(secret string) string {
	if len(secret) < 3 {
		return ""
	}
	return secret[:3]
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
