package server

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/store"
	"github.com/amlid/amlid/internal/web"
	"github.com/google/uuid"
)

const keyWebApp = "webapp"

// webApp is the page's first-party app registration.
type webApp struct {
	AppID    string `json:"appId"`
	ObjectID string `json:"objectId"`
}

// webModule is the page of identities and access (issue 22): it makes sure
// the page's app registration exists, with the front door's callback as its
// one redirect URI (the port may change between starts), and builds the
// page's handler.
func (s *Server) webModule(ctx context.Context) (Module, error) {
	base := s.State.ARMURL
	var app webApp
	rec, err := s.Store.Get(ctx, kindMeta, keyWebApp)
	switch {
	case errors.Is(err, store.ErrNotFound):
		app = webApp{AppID: uuid.NewString(), ObjectID: uuid.NewString()}
		err = s.Store.Tx(ctx, func(tx store.Tx) error {
			p := &directory.Principal{ObjectID: app.ObjectID, TenantID: s.Bootstrap.TenantID, Type: directory.TypeServicePrincipal,
				Subtype: directory.SubtypeApplication, DisplayName: "amlid identities and access (web)", AppID: app.AppID,
				RedirectURIs: []string{web.RedirectURI(base)}, Created: time.Now().UTC()}
			if err := directory.CreatePrincipal(ctx, tx, p); err != nil {
				return err
			}
			b, _ := json.Marshal(app)
			_, err := tx.Create(ctx, store.Record{Kind: kindMeta, Key: keyWebApp, Value: b})
			return err
		})
		if err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(rec.Value, &app); err != nil {
			return nil, err
		}
		if _, err := s.Directory.UpdatePrincipal(ctx, app.ObjectID, func(p *directory.Principal) error {
			if !slices.Contains(p.RedirectURIs, web.RedirectURI(base)) {
				p.RedirectURIs = []string{web.RedirectURI(base)}
			}
			return nil
		}); err != nil {
			return nil, err
		}
	}
	s.Web = web.New(web.Config{BaseURL: base, TenantID: s.Bootstrap.TenantID, ClientID: app.AppID, Tokens: s.Tokens,
		Directory: s.Directory, Authz: s.Authz, Store: s.Store, Logger: s.log, Stopping: s.stopping})
	sweep := func(context.Context) error {
		go func() {
			t := time.NewTicker(time.Hour)
			defer t.Stop()
			for {
				select {
				case <-s.stopping:
					return
				case <-t.C:
					if err := s.Web.SweepSessions(context.Background()); err != nil {
						s.log.Warn("web session sweep", "err", err)
					}
				}
			}
		}()
		return nil
	}
	return module{name: "web", resume: sweep}, nil
}
