package directory

import (
	"regexp"
	"strings"
	"testing"
)

func TestHashSecret(t *testing.T) {
	t.Parallel()
	s := NewSecret()
	h := HashSecret(s)
	if !strings.HasPrefix(h, "sha256$") {
		t.Fatalf("hash %q lacks its algorithm prefix", h)
	}
	if strings.Contains(h, s) {
		t.Fatal("hash contains the secret")
	}
	if h == HashSecret(s) {
		t.Fatal("two hashes of one secret are equal: no salt")
	}
	if !CheckSecret(h, s) {
		t.Fatal("CheckSecret refused the right secret")
	}
	for _, bad := range []string{"", s[:len(s)-1], s + "x", strings.ToUpper(s)} {
		if bad != s && CheckSecret(h, bad) {
			t.Errorf("CheckSecret accepted %q", bad)
		}
	}
}

func TestHashPassword(t *testing.T) {
	t.Parallel()
	h := HashPassword("correct horse")
	if !strings.HasPrefix(h, "pbkdf2-sha256$600000$") {
		t.Fatalf("hash %q: want pbkdf2-sha256$600000$ prefix", h)
	}
	if !CheckSecret(h, "correct horse") {
		t.Fatal("CheckSecret refused the right password")
	}
	// The wrong-password matrix runs on a cheap hash: one check at
	// 600000 rounds takes ~1 s under -race.
	h = HashPasswordWithIterations("correct horse", 10)
	if !strings.HasPrefix(h, "pbkdf2-sha256$1000$") {
		t.Fatalf("hash %q: the floor of 1000 rounds was not applied", h)
	}
	for _, bad := range []string{"", "correct horsf", "correct horse ", "Correct horse"} {
		if CheckSecret(h, bad) {
			t.Errorf("CheckSecret accepted %q", bad)
		}
	}
	if !CheckSecret(h, "correct horse") {
		t.Fatal("CheckSecret refused the right password (cheap hash)")
	}
}

func TestCheckSecretMalformed(t *testing.T) {
	t.Parallel()
	for _, h := range []string{
		"", "plain", "sha256$", "sha256$$", "sha256$!!$!!", "md5$a$b",
		"pbkdf2-sha256$0$AAAA$AAAA", "pbkdf2-sha256$x$AAAA$AAAA", "pbkdf2-sha256$99999999$AAAA$AAAA",
		"pbkdf2-sha256$1$AAAA$",
	} {
		if CheckSecret(h, "") || CheckSecret(h, "plain") {
			t.Errorf("CheckSecret(%q) matched", h)
		}
	}
}

func TestNewSecret(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(`^[A-Za-z0-9_.~-]{3}8Q~[A-Za-z0-9_.~-]{34}$`)
	seen := map[string]bool{}
	for range 200 {
		s := NewSecret()
		if !re.MatchString(s) {
			t.Fatalf("secret %q has not the Entra shape", s)
		}
		if seen[s] {
			t.Fatalf("secret %q repeated", s)
		}
		seen[s] = true
	}
	if SecretHint("abcdef") != "abc" || SecretHint("ab") != "" {
		t.Fatal("SecretHint")
	}
}

func TestNewSecretNeverStartsLikeAFlag(t *testing.T) {
	for range 2000 {
		if s := NewSecret(); !isAlnum(s[0]) {
			t.Fatalf("secret %q starts with %q", s, s[0])
		}
	}
}
