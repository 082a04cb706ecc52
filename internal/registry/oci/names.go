package oci

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"hash"
	"net/http"
	"regexp"
	"strings"
)

// Repository names, tags and digests as the distribution spec defines them.
var (
	nameRE   = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagRE    = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
	digestRE = regexp.MustCompile(`^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$`)
)

// MaxNameLength bounds repository names (ACR allows 256 characters with
// the login server; the spec recommends 255 for the name).
const MaxNameLength = 255

// CheckName validates a repository name: lower-case components separated
// by single slashes; no "..", no empty components (NAME_INVALID).
func CheckName(name string) *Error {
	if name == "" || len(name) > MaxNameLength || !nameRE.MatchString(name) {
		return Errorf(http.StatusBadRequest, CodeNameInvalid,
			"invalid repository name %q: use lower-case letters, digits and separators (. _ __ -) in components joined by single '/', at most %d characters",
			clip(name, 80), MaxNameLength)
	}
	return nil
}

// ValidTag reports whether t is a valid tag.
func ValidTag(t string) bool { return tagRE.MatchString(t) }

// Digest is a parsed content digest ("sha256:<64 hex>" or "sha512:<128 hex>").
type Digest struct {
	Algorithm string
	Hex       string
}

func (d Digest) String() string { return d.Algorithm + ":" + d.Hex }

// ParseDigest validates a digest. Only sha256 and sha512 are accepted.
func ParseDigest(s string) (Digest, *Error) {
	bad := func(why string) (Digest, *Error) {
		return Digest{}, Errorf(http.StatusBadRequest, CodeDigestInvalid, "invalid digest %q: %s", clip(s, 140), why)
	}
	if !digestRE.MatchString(s) {
		return bad("want <algorithm>:<hex>, e.g. sha256:<64 hex characters>")
	}
	alg, hx, _ := strings.Cut(s, ":")
	want := 0
	switch alg {
	case "sha256":
		want = 64
	case "sha512":
		want = 128
	default:
		return bad("algorithm '" + alg + "' is not supported (sha256, sha512)")
	}
	if len(hx) != want {
		return bad("wrong length for " + alg)
	}
	if _, err := hex.DecodeString(hx); err != nil || strings.ToLower(hx) != hx {
		return bad("not lower-case hex")
	}
	return Digest{Algorithm: alg, Hex: hx}, nil
}

// IsDigest reports whether ref looks like a digest rather than a tag.
func IsDigest(ref string) bool { return strings.Contains(ref, ":") }

func newHash(alg string) hash.Hash {
	if alg == "sha512" {
		return sha512.New()
	}
	return sha256.New()
}

// DigestOf computes the digest of b with alg.
func DigestOf(alg string, b []byte) Digest {
	h := newHash(alg)
	h.Write(b)
	return Digest{Algorithm: alg, Hex: hex.EncodeToString(h.Sum(nil))}
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// route is a parsed /v2/ path.
type route struct {
	kind string // ping, catalog, tags, manifest, blob, upload, referrers
	repo string
	ref  string // tag/digest, blob digest, upload ID
}

// parseRoute splits /v2/<name>/<op>… Repository names contain slashes, so
// the operation is recognised from the end of the path.
func parseRoute(path string) (route, *Error) {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		if path == "/v2" {
			return route{kind: "ping"}, nil
		}
		return route{}, Errorf(http.StatusNotFound, CodeUnsupported, "no registry operation at %q", clip(path, 120))
	}
	if rest == "" {
		return route{kind: "ping"}, nil
	}
	if rest == "_catalog" {
		return route{kind: "catalog"}, nil
	}
	segs := strings.Split(rest, "/")
	n := len(segs)
	notFound := Errorf(http.StatusNotFound, CodeUnsupported, "no registry operation at %q", clip(path, 120))
	var r route
	switch {
	case n >= 3 && segs[n-2] == "tags" && segs[n-1] == "list":
		r = route{kind: "tags", repo: strings.Join(segs[:n-2], "/")}
	case n >= 3 && segs[n-2] == "manifests":
		r = route{kind: "manifest", repo: strings.Join(segs[:n-2], "/"), ref: segs[n-1]}
	case n >= 4 && segs[n-3] == "blobs" && segs[n-2] == "uploads":
		r = route{kind: "upload", repo: strings.Join(segs[:n-3], "/"), ref: segs[n-1]}
	case n >= 3 && segs[n-2] == "blobs":
		r = route{kind: "blob", repo: strings.Join(segs[:n-2], "/"), ref: segs[n-1]}
	case n >= 3 && segs[n-2] == "referrers":
		r = route{kind: "referrers", repo: strings.Join(segs[:n-2], "/"), ref: segs[n-1]}
	default:
		return route{}, notFound
	}
	if err := CheckName(r.repo); err != nil {
		return route{}, err
	}
	return r, nil
}
