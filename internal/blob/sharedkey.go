package blob

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Shared Key: HMAC-SHA256 over Azure's canonical string (Authorize with
// Shared Key, "Blob, Queue, and File services"). The canonical x-ms-*
// header order is the service's culture-aware sort; the clients imitate it
// differently (azblob ignores '-' at the first level, azure-storage-blob
// uses its own alphabet, older clients sort bytes), so every order a real
// client produces is tried. That accepts no forgery: each candidate still
// needs the account key.

// headerOrders are the canonical-header sort orders tried.
var headerOrders = []func(a, b string) bool{
	serviceOrder,
	pythonOrder,
	func(a, b string) bool { return a < b },
}

// serviceOrder approximates the service's comparison: hyphens are ignored
// at the first level, '_' sorts before digits, digits before letters; ties
// fall back to byte order.
func serviceOrder(a, b string) bool {
	i, j := 0, 0
	for {
		for i < len(a) && a[i] == '-' {
			i++
		}
		for j < len(b) && b[j] == '-' {
			j++
		}
		if i == len(a) || j == len(b) {
			if i == len(a) && j == len(b) {
				return a < b
			}
			return i == len(a)
		}
		wa, wb := serviceWeight(a[i]), serviceWeight(b[j])
		if wa != wb {
			return wa < wb
		}
		i++
		j++
	}
}

func serviceWeight(c byte) int {
	switch {
	case c == '_':
		return 1
	case c >= '0' && c <= '9':
		return 100 + int(c)
	case c >= 'a' && c <= 'z':
		return 200 + int(c)
	case c >= 'A' && c <= 'Z':
		return 200 + int(c-'A'+'a')
	}
	return int(c) - 200 // other punctuation first
}

// pythonAlphabet is azure-storage-blob's header sort alphabet
// (_storage_header_sort): the order characters compare in.
const pythonAlphabet = "-!#$%&*.^_|~+\"'(),/`~0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]abcdefghijklmnopqrstuvwxyz{}"

func pythonOrder(a, b string) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		wa, wb := strings.IndexByte(pythonAlphabet, a[i]), strings.IndexByte(pythonAlphabet, b[i])
		if wa != wb {
			return wa < wb
		}
	}
	return len(a) < len(b)
}

// canonicalHeaders renders the x-ms-* headers in one order.
func canonicalHeaders(h http.Header, less func(a, b string) bool) string {
	var names []string
	vals := map[string]string{}
	for k, v := range h {
		lk := strings.ToLower(strings.TrimSpace(k))
		if strings.HasPrefix(lk, "x-ms-") {
			if _, dup := vals[lk]; !dup {
				names = append(names, lk)
			}
			vals[lk] = strings.Join(v, ",")
		}
	}
	sort.Slice(names, func(i, j int) bool { return less(names[i], names[j]) })
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n)
		b.WriteByte(':')
		b.WriteString(vals[n])
		b.WriteByte('\n')
	}
	return b.String()
}

// wirePath is the request path exactly as sent (encoded).
func wirePath(r *http.Request) string {
	p := r.RequestURI
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	if strings.HasPrefix(p, "http://") || strings.HasPrefix(p, "https://") {
		if u, err := url.Parse(p); err == nil {
			p = u.EscapedPath()
		}
	}
	if p == "" {
		p = r.URL.EscapedPath()
	}
	return p
}

// canonicalResource is "/account" + encoded path + the sorted query.
func canonicalResource(r *http.Request, account, path string) string {
	var b strings.Builder
	b.WriteString("/" + account)
	if path == "" {
		path = "/"
	}
	b.WriteString(path)
	params, _ := url.ParseQuery(r.URL.RawQuery)
	merged := map[string][]string{}
	for k, vs := range params {
		lk := strings.ToLower(k)
		merged[lk] = append(merged[lk], vs...)
	}
	names := make([]string, 0, len(merged))
	for k := range merged {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, n := range names {
		vs := merged[n]
		sort.Strings(vs)
		b.WriteString("\n" + n + ":" + strings.Join(vs, ","))
	}
	return b.String()
}

// sharedKeyStrings returns the candidate strings to sign for a request.
func sharedKeyStrings(r *http.Request, account string, lite bool) []string {
	h := r.Header
	paths := []string{wirePath(r)}
	if ep := r.URL.EscapedPath(); ep != paths[0] {
		paths = append(paths, ep)
	}
	seen := map[string]bool{}
	var out []string
	for _, order := range headerOrders {
		ch := canonicalHeaders(h, order)
		for _, p := range paths {
			var s string
			if lite {
				res := "/" + account + p
				if comp := r.URL.Query().Get("comp"); comp != "" {
					res += "?comp=" + comp
				}
				s = r.Method + "\n" + h.Get("Content-MD5") + "\n" + h.Get("Content-Type") + "\n" + h.Get("Date") + "\n" + ch + res
			} else {
				cl := h.Get("Content-Length")
				if cl == "" && r.ContentLength > 0 {
					cl = strconv.FormatInt(r.ContentLength, 10)
				}
				if cl == "0" {
					cl = ""
				}
				s = strings.Join([]string{
					r.Method,
					h.Get("Content-Encoding"),
					h.Get("Content-Language"),
					cl,
					h.Get("Content-MD5"),
					h.Get("Content-Type"),
					h.Get("Date"),
					h.Get("If-Modified-Since"),
					h.Get("If-Match"),
					h.Get("If-None-Match"),
					h.Get("If-Unmodified-Since"),
					h.Get("Range"),
				}, "\n") + "\n" + ch + canonicalResource(r, account, p)
			}
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}

func hmacSHA256(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

// maxClockSkew bounds the age of a Shared Key request (x-ms-date/Date):
// the service refuses requests more than 15 minutes off.
const maxClockSkew = 15 * time.Minute

func (h *Handler) verifySharedKey(q *req, scheme, cred string) error {
	a := q.account
	if !a.AllowSharedKeyAccess {
		return errKeyAuthNotPermitted(a.Name)
	}
	name, sig, ok := strings.Cut(strings.TrimSpace(cred), ":")
	if !ok || name == "" || sig == "" {
		return errorf(http.StatusForbidden, "AuthenticationFailed", msgAuthFailed).
			with("AuthenticationErrorDetail", "The Authorization header must be 'SharedKey <account>:<signature>'.")
	}
	if name != a.Name {
		return errorf(http.StatusForbidden, "AuthenticationFailed", msgAuthFailed).
			with("AuthenticationErrorDetail", "The account being accessed ('"+a.Name+"') does not match the account in the Authorization header ('"+name+"').")
	}
	mac, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return errorf(http.StatusForbidden, "AuthenticationFailed", msgAuthFailed).
			with("AuthenticationErrorDetail", "The MAC signature found in the HTTP request '"+sig+"' is not a base64 string.")
	}
	// Freshness.
	ds := q.r.Header.Get("x-ms-date")
	if ds == "" {
		ds = q.r.Header.Get("Date")
	}
	if ds == "" {
		return errorf(http.StatusForbidden, "AuthenticationFailed", msgAuthFailed).
			with("AuthenticationErrorDetail", "Request date header not specified (send x-ms-date).")
	}
	t, err := http.ParseTime(ds)
	if err != nil {
		return errorf(http.StatusForbidden, "AuthenticationFailed", msgAuthFailed).
			with("AuthenticationErrorDetail", "The date header '"+ds+"' is not an RFC 1123 date.")
	}
	if d := h.now().Sub(t); d > maxClockSkew || d < -maxClockSkew {
		return errorf(http.StatusForbidden, "AuthenticationFailed", msgAuthFailed).
			with("AuthenticationErrorDetail", "Request date header too old or too far in the future: '"+ds+"' (the service accepts 15 minutes of clock skew).")
	}
	cands := sharedKeyStrings(q.r, a.Name, strings.EqualFold(scheme, "SharedKeyLite"))
	for _, s := range cands {
		for _, k := range a.Keys {
			if hmac.Equal(hmacSHA256(k, s), mac) {
				return nil
			}
		}
	}
	return errorf(http.StatusForbidden, "AuthenticationFailed", msgAuthFailed).
		with("AuthenticationErrorDetail", "The MAC signature found in the HTTP request '"+sig+"' is not the same as any computed signature. Server used following string to sign: '"+cands[0]+"'.")
}

func errKeyAuthNotPermitted(account string) *Error {
	return errorf(http.StatusForbidden, "KeyBasedAuthenticationNotPermitted",
		"Key based authentication is not permitted on this storage account. ('%s' has allowSharedKeyAccess false: use a Microsoft Entra token, e.g. --auth-mode login, or turn it on with: amlid storage account update -n %s --allow-shared-key-access true)", account, account)
}

// SignSharedKey signs an outgoing request with an account key (for amlid's
// own CLI): it sets x-ms-date when missing and the Authorization header,
// with the same canonicalization the service verifies.
func SignSharedKey(r *http.Request, account string, key []byte) {
	if r.Header.Get("x-ms-date") == "" {
		r.Header.Set("x-ms-date", time.Now().UTC().Format(httpTime))
	}
	if r.ContentLength > 0 && r.Header.Get("Content-Length") == "" {
		r.Header.Set("Content-Length", strconv.FormatInt(r.ContentLength, 10))
	}
	cl := r.Header.Get("Content-Length")
	if cl == "0" {
		cl = ""
	}
	h := r.Header
	s := strings.Join([]string{
		r.Method, h.Get("Content-Encoding"), h.Get("Content-Language"), cl, h.Get("Content-MD5"), h.Get("Content-Type"),
		h.Get("Date"), h.Get("If-Modified-Since"), h.Get("If-Match"), h.Get("If-None-Match"), h.Get("If-Unmodified-Since"), h.Get("Range"),
	}, "\n") + "\n" + canonicalHeaders(h, serviceOrder) + canonicalResource(r, account, r.URL.EscapedPath())
	r.Header.Del("Content-Length") // the transport writes it from ContentLength
	r.Header.Set("Authorization", "SharedKey "+account+":"+base64.StdEncoding.EncodeToString(hmacSHA256(key, s)))
}
