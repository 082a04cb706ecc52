package blob

import (
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/amlid/amlid/internal/storage"
)

// sasToken is a verified shared access signature.
type sasToken struct {
	account     bool   // account SAS (else service SAS)
	services    string // ss
	types       string // srt
	resource    string // sr
	permissions string // sp (after a stored policy is applied)
	ip          string // sip
	protocol    string // spr
}

func sasFailed(detail string) *Error {
	return errorf(http.StatusForbidden, "AuthenticationFailed", msgAuthFailed).with("AuthenticationErrorDetail", detail)
}

// parseSASTime accepts the ISO 8601 forms the clients write.
func parseSASTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z", "2006-01-02T15:04Z", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("bad time %q", s)
}

// verifySAS checks a SAS signature and its validity window; permissions,
// resource types, IP range and protocol are checked by authorizeSAS.
func (h *Handler) verifySAS(q *req) (*sasToken, error) {
	a := q.account
	if !a.AllowSharedKeyAccess {
		// Account and service SAS are signed with the account key.
		return nil, errKeyAuthNotPermitted(a.Name)
	}
	g := q.query
	if g("skoid") != "" || g("sktid") != "" {
		return nil, sasFailed("User delegation SAS is not supported by amlid; use an account or service SAS signed with an account key, or a Microsoft Entra token.")
	}
	sig := g("sig")
	mac, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return nil, sasFailed("Signature fields not well formed: sig is not base64.")
	}
	sv := g("sv")
	if sv == "" || len(sv) < 10 {
		return nil, sasFailed("sv is mandatory. Cannot be empty")
	}
	if sv < "2015-04-05" {
		return nil, sasFailed("The signed version " + sv + " is older than 2015-04-05, the oldest amlid accepts.")
	}
	t := &sasToken{ip: g("sip"), protocol: g("spr")}
	var sts string
	st, se, sp := g("st"), g("se"), g("sp")
	switch {
	case g("ss") != "" || g("srt") != "":
		t.account, t.services, t.types, t.permissions = true, g("ss"), g("srt"), sp
		parts := []string{a.Name, sp, t.services, t.types, st, se, t.ip, t.protocol, sv}
		if sv >= "2020-12-06" {
			parts = append(parts, g("ses"))
		}
		sts = strings.Join(parts, "\n") + "\n"
	case g("sr") != "":
		t.resource = g("sr")
		var canon string
		switch t.resource {
		case "c":
			canon = "/blob/" + a.Name + "/" + q.container
		case "b":
			if q.blob == "" {
				return nil, errorf(http.StatusForbidden, "AuthorizationResourceTypeMismatch", "This request is not authorized to perform this operation using this resource type.").
					with("AuthenticationErrorDetail", "a blob SAS (sr=b) cannot authorize a container or service operation")
			}
			canon = "/blob/" + a.Name + "/" + q.container + "/" + q.blob
		default:
			return nil, sasFailed("Signed resource sr=" + t.resource + " is not supported by amlid (use sr=c or sr=b).")
		}
		if q.container == "" {
			return nil, errorf(http.StatusForbidden, "AuthorizationResourceTypeMismatch", "This request is not authorized to perform this operation using this resource type.")
		}
		si := g("si")
		parts := []string{sp, st, se, canon, si, t.ip, t.protocol, sv}
		if sv >= "2018-11-09" {
			parts = append(parts, t.resource, g("snapshot"))
		}
		if sv >= "2020-12-06" {
			parts = append(parts, g("ses"))
		}
		parts = append(parts, g("rscc"), g("rscd"), g("rsce"), g("rscl"), g("rsct"))
		sts = strings.Join(parts, "\n")
		t.permissions = sp
		if si != "" {
			// A stored access policy fills what the SAS leaves out.
			cont, err := h.prov.Container(q.r.Context(), a, q.container)
			if err != nil && !errors.Is(err, storage.ErrContainerNotFound) {
				return nil, err
			}
			var pol *storage.SignedIdentifier
			if cont != nil {
				for i := range cont.SignedIdentifiers {
					if cont.SignedIdentifiers[i].ID == si {
						pol = &cont.SignedIdentifiers[i]
					}
				}
			}
			if pol == nil {
				return nil, sasFailed("The specified signed identifier '" + si + "' does not exist on the container.")
			}
			if st == "" {
				st = pol.Start
			}
			if se == "" {
				se = pol.Expiry
			}
			if t.permissions == "" {
				t.permissions = pol.Permission
			}
		}
	default:
		return nil, sasFailed("Signature fields not well formed: a SAS needs ss and srt (account SAS) or sr (service SAS).")
	}
	ok := false
	for _, k := range a.Keys {
		if hmac.Equal(hmacSHA256(k, sts), mac) {
			ok = true
			break
		}
	}
	if !ok {
		return nil, sasFailed("Signature did not match. String to sign used was " + sts)
	}
	// Validity window.
	if se == "" {
		return nil, sasFailed("Signed expiry time is mandatory (se).")
	}
	exp, err := parseSASTime(se)
	if err != nil {
		return nil, sasFailed("se " + se + " is not an ISO 8601 time.")
	}
	now := h.now()
	start := time.Time{}
	if st != "" {
		if start, err = parseSASTime(st); err != nil {
			return nil, sasFailed("st " + st + " is not an ISO 8601 time.")
		}
		if !exp.After(start) {
			return nil, sasFailed(fmt.Sprintf("Signed expiry time [%s] must be after signed start time [%s]", fmtTime(exp), fmtTime(start)))
		}
	}
	if now.After(exp) || (!start.IsZero() && now.Before(start)) {
		return nil, sasFailed(fmt.Sprintf("Signature not valid in the specified time frame: Start [%s] - Expiry [%s] - Current [%s]", fmtTime(start), fmtTime(exp), fmtTime(now)))
	}
	return t, nil
}

// authorizeSAS checks service, resource type, permissions, IP and protocol.
func (h *Handler) authorizeSAS(q *req) error {
	t, op := q.auth.sas, q.op
	if t.account {
		if !strings.Contains(t.services, "b") {
			return errorf(http.StatusForbidden, "AuthorizationServiceMismatch", "This request is not authorized to perform this operation using this service.")
		}
		need := map[level]string{levelService: "s", levelContainer: "c", levelBlob: "o"}[op.level]
		if op.name == "ListBlobs" {
			need = "c"
		}
		if !strings.Contains(t.types, need) {
			return errorf(http.StatusForbidden, "AuthorizationResourceTypeMismatch", "This request is not authorized to perform this operation using this resource type.")
		}
	} else if !op.serviceSAS || (op.level != levelBlob && t.resource != "c") {
		return errorf(http.StatusForbidden, "AuthorizationResourceTypeMismatch", "This request is not authorized to perform this operation using this resource type.")
	}
	if t.ip != "" {
		actual, seen, ok := h.effectiveAddrs(q.r)
		if !ok || !(ipInRange(t.ip, actual) || ipInRange(t.ip, seen)) {
			return errorf(http.StatusForbidden, "AuthorizationSourceIPMismatch", "This request is not authorized to perform this operation using this source IP %s.", actual)
		}
	}
	if t.protocol != "" && q.r.TLS == nil && !strings.Contains(t.protocol, "http,") && t.protocol != "http" && !strings.Contains(t.protocol, ",http") {
		return errorf(http.StatusForbidden, "AuthorizationProtocolMismatch", "This request is not authorized to perform this operation using this protocol.")
	}
	if strings.ContainsAny(t.permissions, op.perms) {
		return nil
	}
	if op.create != "" && strings.ContainsAny(t.permissions, op.create) {
		q.createOnly = true
		return nil
	}
	return errPermission(fmt.Sprintf("The SAS grants permissions '%s'; %s needs one of '%s'.", t.permissions, op.name, op.perms+op.create))
}

// ipInRange checks "a.b.c.d" or "a.b.c.d-e.f.g.h".
func ipInRange(rng string, a netip.Addr) bool {
	lo, hi, isRange := strings.Cut(rng, "-")
	l, err := netip.ParseAddr(strings.TrimSpace(lo))
	if err != nil {
		return false
	}
	if !isRange {
		return l == a.Unmap()
	}
	u, err := netip.ParseAddr(strings.TrimSpace(hi))
	if err != nil {
		return false
	}
	a = a.Unmap()
	return l.Compare(a) <= 0 && a.Compare(u) <= 0
}
