package directory

import (
	"errors"
	"net"
	"net/url"
	"strings"
)

// CheckRedirectURI validates a redirect URI for an app registration: an
// absolute https URL, or http on a loopback host (Entra's rule), without a
// fragment.
func CheckRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return errors.New("it must be an absolute URL")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return errors.New("it must not contain a fragment")
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return nil
	case "http":
		if IsLoopback(u.Hostname()) {
			return nil
		}
		return errors.New("http is allowed only for localhost or a loopback address; use https")
	}
	return errors.New("its scheme must be https (or http on a loopback host)")
}

// IsLoopback reports whether host is localhost or a loopback IP.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// MatchRedirectURI reports whether uri is one of the registered ones: an
// exact match, or, for an http loopback URI, the same host and path on any
// port (RFC 8252 §7.3: native apps listen on an ephemeral port; Entra
// ignores the port of http://localhost too).
func MatchRedirectURI(registered []string, uri string) bool {
	u, err := url.Parse(uri)
	if err != nil || !u.IsAbs() || u.Fragment != "" {
		return false
	}
	for _, r := range registered {
		if r == uri {
			return true
		}
		if !strings.EqualFold(u.Scheme, "http") || !IsLoopback(u.Hostname()) {
			continue
		}
		ru, err := url.Parse(r)
		if err != nil || !strings.EqualFold(ru.Scheme, "http") || !strings.EqualFold(ru.Hostname(), u.Hostname()) {
			continue
		}
		if strings.TrimSuffix(ru.Path, "/") == strings.TrimSuffix(u.Path, "/") && ru.RawQuery == u.RawQuery {
			return true
		}
	}
	return false
}
