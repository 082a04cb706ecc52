package token

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/store"
)

// Device-code errors returned by ApproveDeviceCode.
var (
	ErrUnknownUserCode = errors.New("token: unknown or expired device user code")
	ErrNotAUser        = errors.New("token: only an enabled user can approve a device code")
)

// deviceRecord is a pending device authorisation (KindDeviceCode, key =
// hex SHA-256 of the device code, parent = the user code).
type deviceRecord struct {
	UserCode  string    `json:"userCode"`
	ClientID  string    `json:"clientId"`
	TenantID  string    `json:"tenantId,omitempty"` // "" when asked on an alias
	TenantSeg string    `json:"tenantSeg"`
	Scope     string    `json:"scope,omitempty"`
	Resource  string    `json:"resource,omitempty"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
	// Set by ApproveDeviceCode.
	ApprovedOID string `json:"approvedOid,omitempty"`
}

// userCodeAlphabet avoids look-alike characters (0/O, 1/I).
const userCodeAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

func newUserCode() string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = userCodeAlphabet[int(b[i])%len(userCodeAlphabet)] // 256 % 32 == 0: uniform
	}
	return string(b[:])
}

func normUserCode(c string) string {
	return strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(strings.TrimSpace(c)))
}

// handleDeviceCode starts a device-code sign-in.
func (s *Service) handleDeviceCode(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	_, corr := requestIDs(w, r)
	tr := &tokenReq{r: r, v2Endpoint: strings.Contains(r.URL.Path, "/v2.0/"), corr: corr, grant: "devicecode"}
	body, oe := s.deviceCode(ctx, w, tr)
	if oe != nil {
		s.logRefusal(ctx, tr, oe)
		s.writeError(w, r, oe)
		return
	}
	s.log.LogAttrs(ctx, levelInfo, "device code issued", attrTenant(tr.ref.Seg), attrClient(tr.clientID), attrCorrelation(corr))
	writeJSON(w, http.StatusOK, body)
}

func (s *Service) deviceCode(ctx context.Context, w http.ResponseWriter, tr *tokenReq) (map[string]any, *oauthError) {
	var oe *oauthError
	if tr.ref, oe = s.resolveTenant(ctx, tr.r.PathValue("tenant")); oe != nil {
		return nil, oe
	}
	if oe := parseForm(w, tr.r); oe != nil {
		return nil, oe
	}
	tr.form = tr.r.PostForm
	tr.clientID = strings.TrimSpace(tr.form.Get("client_id"))
	tr.secret = tr.form.Get("client_secret")
	cl, oe := s.authClient(ctx, tr, false)
	if oe != nil {
		return nil, oe
	}
	q, oe := tr.scopeOf("", "")
	if oe != nil {
		return nil, oe
	}
	now := s.now()
	rec := deviceRecord{ClientID: cl.appID, TenantID: tr.ref.ID, TenantSeg: tr.ref.Seg,
		Created: now, Expires: now.Add(DefaultDeviceCodeLifetime)}
	if q.V1 {
		rec.Resource = q.Resource
	} else {
		rec.Scope = q.Raw
	}
	device := randomToken(48)
	var err error
	for range 5 {
		rec.UserCode = newUserCode()
		err = s.st.Tx(ctx, func(tx store.Tx) error {
			taken, err := tx.List(ctx, KindDeviceCode, store.ListOptions{Parent: rec.UserCode})
			if err != nil {
				return err
			}
			for _, t := range taken {
				var o deviceRecord
				if json.Unmarshal(t.Value, &o) == nil && now.Before(o.Expires) {
					return store.ErrAlreadyExists
				}
			}
			b, _ := json.Marshal(rec)
			_, err = tx.Create(ctx, store.Record{Kind: KindDeviceCode, Key: tokenKey(device), Parent: rec.UserCode, Value: b})
			return err
		})
		if !errors.Is(err, store.ErrAlreadyExists) {
			break
		}
	}
	if err != nil {
		return nil, errServer(err)
	}
	verify := s.base + "/" + tr.ref.Seg + "/oauth2/deviceauth"
	return map[string]any{
		"user_code":        rec.UserCode,
		"device_code":      device,
		"verification_uri": verify,
		"verification_url": verify, // the v1 endpoint's name for it
		"expires_in":       int(DefaultDeviceCodeLifetime / time.Second),
		"interval":         5,
		"message": fmt.Sprintf("To sign in, approve the code %s: POST username and password (form) to %s?user_code=%s, or run the amlid approval command.",
			rec.UserCode, verify, rec.UserCode),
	}, nil
}

// findDevice returns the pending record for a user code.
func (s *Service) findDevice(ctx context.Context, rd store.Reader, userCode string) (store.Record, deviceRecord, error) {
	var rec deviceRecord
	recs, err := rd.List(ctx, KindDeviceCode, store.ListOptions{Parent: normUserCode(userCode)})
	if err != nil {
		return store.Record{}, rec, err
	}
	now := s.now()
	for _, r := range recs {
		if json.Unmarshal(r.Value, &rec) == nil && now.Before(rec.Expires) {
			return r, rec, nil
		}
	}
	return store.Record{}, rec, ErrUnknownUserCode
}

// ApproveDeviceCode completes a device-code sign-in as the given user (the
// "browser" half of the flow, for the CLI and tests). The next poll of
// the device gets the user's tokens.
func (s *Service) ApproveDeviceCode(ctx context.Context, userCode, userObjectID string) error {
	user, err := s.dir.Principal(ctx, userObjectID)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: principal %s does not exist", ErrNotAUser, userObjectID)
	}
	if err != nil {
		return err
	}
	if user.Type != directory.TypeUser || user.Disabled {
		return fmt.Errorf("%w: %s is a %s (disabled: %v)", ErrNotAUser, userObjectID, user.Type, user.Disabled)
	}
	err = s.st.Tx(ctx, func(tx store.Tx) error {
		r, rec, err := s.findDevice(ctx, tx, userCode)
		if err != nil {
			return err
		}
		if rec.TenantID != "" && !strings.EqualFold(rec.TenantID, user.TenantID) {
			return fmt.Errorf("token: user %s belongs to tenant %s, but the device code was requested for tenant %s (rule ID-4)", user.UPN, user.TenantID, rec.TenantID)
		}
		rec.ApprovedOID = user.ObjectID
		r.Value, _ = json.Marshal(rec)
		_, err = tx.Put(ctx, r, r.ETag)
		return err
	})
	if err == nil {
		s.log.LogAttrs(ctx, levelInfo, "device code approved", attrOID(user.ObjectID), attrTenant(user.TenantID))
	}
	return err
}

// handleDeviceAuth approves a user code with a username and password
// posted as a form: POST /{t}/oauth2/deviceauth?user_code=… (no HTML).
func (s *Service) handleDeviceAuth(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	_, corr := requestIDs(w, r)
	tr := &tokenReq{r: r, corr: corr, grant: "deviceauth"}
	oe := func() *oauthError {
		var oe *oauthError
		if tr.ref, oe = s.resolveTenant(ctx, r.PathValue("tenant")); oe != nil {
			return oe
		}
		if oe := parseForm(w, r); oe != nil {
			return oe
		}
		code := r.URL.Query().Get("user_code")
		if code == "" {
			code = r.PostForm.Get("user_code")
		}
		if code == "" {
			return errMissing("user_code")
		}
		username, password := strings.TrimSpace(r.PostForm.Get("username")), r.PostForm.Get("password")
		if username == "" {
			return errMissing("username")
		}
		if password == "" {
			return errMissing("password")
		}
		user, oe := s.authUser(ctx, tr.ref, username, password)
		if oe != nil {
			return oe
		}
		if err := s.ApproveDeviceCode(ctx, code, user.ObjectID); err != nil {
			if errors.Is(err, ErrUnknownUserCode) {
				return newErr(http.StatusBadRequest, "invalid_grant", 70019, "The user code is unknown or has expired; start the device sign-in again.")
			}
			if strings.Contains(err.Error(), "ID-4") {
				return newErr(http.StatusBadRequest, "invalid_grant", 50020, "%s", err.Error())
			}
			return errServer(err)
		}
		return nil
	}()
	if oe != nil {
		s.logRefusal(ctx, tr, oe)
		s.writeError(w, r, oe)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "approved"})
}

// handleDeviceAuthInfo explains the approval endpoint (GET).
func (s *Service) handleDeviceAuthInfo(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"message": "amlid has no sign-in pages. Approve a device code with POST " + s.base + r.URL.Path +
			"?user_code=<code> and a form body username=<upn>&password=<password>.",
	})
}

// grantDevice is the device's poll.
func (s *Service) grantDevice(ctx context.Context, tr *tokenReq) (*tokenResult, *oauthError) {
	cl, oe := s.authClient(ctx, tr, false)
	if oe != nil {
		return nil, oe
	}
	code := tr.form.Get("device_code")
	if code == "" {
		code = tr.form.Get("code")
	}
	if code == "" {
		return nil, errMissing("device_code")
	}
	var rec deviceRecord
	var pending, expired, otherClient bool
	err := s.st.Tx(ctx, func(tx store.Tx) error {
		pending, expired, otherClient = false, false, false
		r, err := tx.Get(ctx, KindDeviceCode, tokenKey(code))
		if err != nil {
			return err
		}
		if err := json.Unmarshal(r.Value, &rec); err != nil {
			return err
		}
		switch {
		case !s.now().Before(rec.Expires):
			expired = true // and forget it
		case !strings.EqualFold(rec.ClientID, cl.appID):
			otherClient = true
			return nil
		case rec.ApprovedOID == "":
			pending = true
			return nil
		}
		return tx.Delete(ctx, KindDeviceCode, r.Key, r.ETag) // one redemption only
	})
	switch {
	case errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict):
		return nil, newErr(http.StatusBadRequest, "invalid_grant", 70000,
			"The provided value for the input parameter 'device_code' is not valid (unknown, or already redeemed).")
	case err != nil:
		return nil, errServer(err)
	case expired:
		return nil, newErr(http.StatusBadRequest, "expired_token", 70019, "Verification code expired.")
	case otherClient:
		return nil, newErr(http.StatusBadRequest, "invalid_grant", 70000,
			"The device code was issued to client '%s', not '%s'.", rec.ClientID, cl.appID)
	case pending:
		return nil, newErr(http.StatusBadRequest, "authorization_pending", 70016,
			"OAuth 2.0 device flow error. Authorization is pending. Continue polling.")
	}
	user, err := s.dir.Principal(ctx, rec.ApprovedOID)
	if err != nil || user.Disabled {
		return nil, newErr(http.StatusBadRequest, "invalid_grant", 50057, "The user who approved the device code no longer exists or is disabled.")
	}
	q, oe := tr.scopeOf(rec.Scope, rec.Resource)
	if oe != nil {
		return nil, oe
	}
	return s.userTokens(ctx, cl, user, q, []string{"pwd"})
}
