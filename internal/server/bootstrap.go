package server

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/store"
	"github.com/google/uuid"
)

const (
	kindMeta     = "server.meta"
	keyBootstrap = "bootstrap"
)

type bootstrapMeta struct {
	TenantID       string `json:"tenantId"`
	SubscriptionID string `json:"subscriptionId"`
	AdminObjectID  string `json:"adminObjectId"`
	AdminAppID     string `json:"adminAppId"`
}

// bootstrap creates, on the first start, the default tenant, subscription
// and the bootstrap admin service principal; later starts reuse them (their
// IDs are stable). The admin's clear secret lives only in bootstrap.json
// (0600); if that file is lost a new secret is issued.
func (s *Server) bootstrap(ctx context.Context) error {
	var meta bootstrapMeta
	rec, err := s.Store.Get(ctx, kindMeta, keyBootstrap)
	switch {
	case errors.Is(err, store.ErrNotFound):
		meta = bootstrapMeta{TenantID: uuid.NewString(), SubscriptionID: uuid.NewString(), AdminObjectID: uuid.NewString(), AdminAppID: uuid.NewString()}
		now := time.Now().UTC()
		secret := directory.NewSecret()
		err = s.Store.Tx(ctx, func(tx store.Tx) error {
			t := directory.Tenant{ID: meta.TenantID, DisplayName: "amlid", DefaultDomain: "amlid.onmicrosoft.com", Created: now}
			tb, _ := json.Marshal(t)
			if _, err := tx.Create(ctx, store.Record{Kind: directory.KindTenant, Key: meta.TenantID, Value: tb}); err != nil {
				return err
			}
			sub := directory.Subscription{ID: meta.SubscriptionID, TenantID: meta.TenantID, DisplayName: "amlid subscription", State: "Enabled"}
			sb, _ := json.Marshal(sub)
			if _, err := tx.Create(ctx, store.Record{Kind: directory.KindSubscription, Key: meta.SubscriptionID, Parent: meta.TenantID, Value: sb}); err != nil {
				return err
			}
			admin := &directory.Principal{
				ObjectID: meta.AdminObjectID, TenantID: meta.TenantID, Type: directory.TypeServicePrincipal,
				Subtype: directory.SubtypeApplication, DisplayName: "amlid-bootstrap-admin", AppID: meta.AdminAppID, DirectoryAdmin: true,
				Secrets: []directory.SecretCredential{newSecretCredential(secret, now)},
			}
			if err := directory.CreatePrincipal(ctx, tx, admin); err != nil {
				return err
			}
			mb, _ := json.Marshal(meta)
			_, err := tx.Create(ctx, store.Record{Kind: kindMeta, Key: keyBootstrap, Value: mb})
			return err
		})
		if err != nil {
			return err
		}
		return s.saveBootstrap(meta, secret)
	case err != nil:
		return err
	}
	if err := json.Unmarshal(rec.Value, &meta); err != nil {
		return err
	}
	if b, err := ReadBootstrap(s.Opts.DataDir); err == nil && b.ClientID == meta.AdminAppID && b.TenantID == meta.TenantID {
		s.Bootstrap = *b
		return nil
	}
	// bootstrap.json is missing or belongs to another store: issue a new secret.
	secret := directory.NewSecret()
	now := time.Now().UTC()
	if _, err := s.Directory.UpdatePrincipal(ctx, meta.AdminObjectID, func(p *directory.Principal) error {
		p.Secrets = append(p.Secrets, newSecretCredential(secret, now))
		return nil
	}); err != nil {
		return err
	}
	return s.saveBootstrap(meta, secret)
}

func newSecretCredential(secret string, now time.Time) directory.SecretCredential {
	return directory.SecretCredential{
		KeyID: uuid.NewString(), DisplayName: "bootstrap", Hint: directory.SecretHint(secret), Hash: directory.HashSecret(secret),
		StartTime: now, EndTime: now.AddDate(2, 0, 0),
	}
}

func (s *Server) saveBootstrap(meta bootstrapMeta, secret string) error {
	s.Bootstrap = Bootstrap{TenantID: meta.TenantID, SubscriptionID: meta.SubscriptionID, ClientID: meta.AdminAppID, ClientSecret: secret, ObjectID: meta.AdminObjectID}
	return writeJSONFile(filepath.Join(s.Opts.DataDir, BootstrapFile), s.Bootstrap, 0o600)
}

// grantBootstrapOwner makes the bootstrap admin Owner of the default
// subscription (idempotent).
func (s *Server) grantBootstrapOwner(ctx context.Context) error {
	err := s.Store.Tx(ctx, func(tx store.Tx) error {
		return s.Authz.Grant(ctx, tx, s.Bootstrap.ObjectID, directory.TypeServicePrincipal, catalog.Owner.ID, "/subscriptions/"+s.Bootstrap.SubscriptionID)
	})
	if err != nil {
		return err
	}
	_, err = s.Authz.Check(ctx, s.Bootstrap.TenantID, s.Bootstrap.ObjectID, "Microsoft.Resources/subscriptions/read", false, "/subscriptions/"+s.Bootstrap.SubscriptionID)
	return err
}

var _ = os.Getpid
