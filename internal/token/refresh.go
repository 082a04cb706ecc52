package token

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/store"
)

// refreshRecord is a stored refresh token (KindRefreshToken, key = hex
// SHA-256 of the token; the token itself is never stored).
type refreshRecord struct {
	TID      string    `json:"tid"`
	OID      string    `json:"oid"`
	ClientID string    `json:"clientId"`
	AMR      []string  `json:"amr,omitempty"`
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires"`
	// PwdStamp fingerprints the user's password hash at sign-in: changing
	// the password revokes the user's refresh tokens, as in Entra.
	PwdStamp string `json:"pwdStamp,omitempty"`
}

func tokenKey(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

func pwdStamp(p *directory.Principal) string {
	if p.Password == nil {
		return ""
	}
	h := sha256.Sum256([]byte(p.Password.Hash))
	return hex.EncodeToString(h[:8])
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newRefreshToken stores and returns a new refresh token for a user grant.
func (s *Service) newRefreshToken(ctx context.Context, g *grantCtx) (string, error) {
	now := s.now()
	rt := "1.A" + randomToken(48)
	rec := refreshRecord{TID: g.tid, OID: g.principal.ObjectID, ClientID: g.appID, AMR: g.amr,
		Created: now, Expires: now.Add(s.cfg.RefreshTokenLifetime), PwdStamp: pwdStamp(g.principal)}
	b, _ := json.Marshal(rec)
	_, err := store.Create(ctx, s.st, store.Record{Kind: KindRefreshToken, Key: tokenKey(rt), Parent: g.principal.ObjectID, Value: b})
	return rt, err
}

// redeemRefresh finds a refresh token. Old tokens stay valid until they
// expire (Entra does not revoke a refresh token when it hands out a new one).
func (s *Service) redeemRefresh(ctx context.Context, rt string) (refreshRecord, *oauthError) {
	var rec refreshRecord
	r, err := s.st.Get(ctx, KindRefreshToken, tokenKey(rt))
	if errors.Is(err, store.ErrNotFound) {
		return rec, newErr(http.StatusBadRequest, "invalid_grant", 9002313,
			"Invalid request. Request is malformed or invalid: the refresh token is unknown or was revoked.")
	}
	if err != nil {
		return rec, errServer(err)
	}
	if err := json.Unmarshal(r.Value, &rec); err != nil {
		return rec, errServer(err)
	}
	if !s.now().Before(rec.Expires) {
		_ = store.Delete(ctx, s.st, KindRefreshToken, r.Key, "")
		return rec, newErr(http.StatusBadRequest, "invalid_grant", 700082,
			"The refresh token has expired due to inactivity. The token was issued on %s and was inactive for %s.",
			rec.Created.Format(time.RFC3339), s.cfg.RefreshTokenLifetime)
	}
	return rec, nil
}

// refreshUser loads the refresh token's user and checks it may still sign in.
func (s *Service) refreshUser(ctx context.Context, rec refreshRecord) (*directory.Principal, *oauthError) {
	user, err := s.dir.Principal(ctx, rec.OID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, newErr(http.StatusBadRequest, "invalid_grant", 50034,
			"The user account {EmailHidden} does not exist in the '%s' directory (it was deleted after the refresh token was issued).", rec.TID)
	}
	if err != nil {
		return nil, errServer(err)
	}
	if user.Disabled {
		return nil, newErr(http.StatusBadRequest, "invalid_grant", 50057, "The user account is disabled.")
	}
	if rec.PwdStamp != pwdStamp(user) {
		return nil, newErr(http.StatusBadRequest, "invalid_grant", 50173,
			"The provided grant has expired due to it being revoked; the user's password changed. A fresh sign-in is needed.")
	}
	return user, nil
}

// RevokeRefreshTokens deletes every refresh token of a user (sign-out
// everywhere, as "Revoke sessions" does in Entra).
func (s *Service) RevokeRefreshTokens(ctx context.Context, objectID string) error {
	oid := strings.ToLower(objectID)
	return s.st.Tx(ctx, func(tx store.Tx) error {
		recs, err := tx.List(ctx, KindRefreshToken, store.ListOptions{Parent: oid})
		if err != nil {
			return err
		}
		for _, r := range recs {
			if err := tx.Delete(ctx, KindRefreshToken, r.Key, ""); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		return nil
	})
}

// sweepRecords deletes expired refresh tokens and device codes, at most
// every ten minutes.
func (s *Service) sweepRecords(ctx context.Context) error {
	s.mu.Lock()
	if time.Since(s.lastSweep) < 10*time.Minute {
		s.mu.Unlock()
		return nil
	}
	s.lastSweep = time.Now()
	s.mu.Unlock()
	now := s.now()
	for _, kind := range []string{KindRefreshToken, KindDeviceCode, KindAuthCode} {
		recs, err := s.st.List(ctx, kind, store.ListOptions{})
		if err != nil {
			return err
		}
		for _, r := range recs {
			var v struct {
				Expires time.Time `json:"expires"`
			}
			if json.Unmarshal(r.Value, &v) == nil && !v.Expires.IsZero() && !now.Before(v.Expires) {
				if err := store.Delete(ctx, s.st, kind, r.Key, r.ETag); err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrConflict) {
					return err
				}
			}
		}
	}
	return nil
}
