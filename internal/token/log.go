package token

import "log/slog"

// Log attributes. Only identifiers are ever logged: never a secret, a
// password, a client assertion, a device code or a token (a test scans the
// log output for them).

const (
	levelInfo = slog.LevelInfo
)

func attrGrant(g string) slog.Attr       { return slog.String("grant_type", g) }
func attrTenant(t string) slog.Attr      { return slog.String("tenant", t) }
func attrOID(o string) slog.Attr         { return slog.String("oid", o) }
func attrClient(c string) slog.Attr      { return slog.String("client_id", c) }
func attrAud(a string) slog.Attr         { return slog.String("aud", a) }
func attrCached(b bool) slog.Attr        { return slog.Bool("cached", b) }
func attrCorrelation(c string) slog.Attr { return slog.String("correlation_id", c) }
