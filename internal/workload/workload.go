// Package workload is amlid's registry of workloads: local processes that
// run on behalf of ONE ARM resource (a job on a compute, a deployment of an
// online endpoint, or any resource for `amlid run --as`). A workload gets
// credentials that bind it to that resource (rule ID-3): an unguessable ID,
// which is part of every managed-identity endpoint URL it is given, and a
// secret (MSI_SECRET / IDENTITY_HEADER). The managed-identity endpoints
// (package msi) hand a workload tokens only for the identities its resource
// holds, as the Resolver reports them at request time.
//
// The registry is in memory only: workloads and their credentials die with
// the server, and with Unregister when the process ends.
package workload

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/amlid/amlid/internal/directory"
)

// Sizes of the random credentials, in bytes.
const (
	// IDBytes: the workload ID is 256 bits. It is part of the endpoint
	// URLs and is the only credential of the forms that carry no secret
	// (az's CloudShell-style POST, IMDS through
	// AZURE_POD_IDENTITY_AUTHORITY_HOST), so it is as strong as the secret.
	IDBytes = 32
	// SecretBytes: the secret is 256 bits.
	SecretBytes = 32
	// handleBytes: the public handle used in logs (not a credential).
	handleBytes = 6
)

// IDLen is the length of a workload ID: lower-case hex.
const IDLen = 2 * IDBytes

// Resolver reports the managed identities an ARM resource holds. The
// integrator implements it over ARM state; it is called on every token
// request (so identity changes take effect at once), and must be fast.
type Resolver interface {
	// Identities returns the managed-identity principals the resource
	// holds, default first (the system-assigned identity, else the first
	// user-assigned one: rule CMP-2). Empty if none. A resource that no
	// longer exists returns an empty list, or an error wrapping
	// directory.ErrNotFound.
	Identities(ctx context.Context, resourceID string) ([]*directory.Principal, error)
}

// ResolverFunc adapts a function to Resolver.
type ResolverFunc func(ctx context.Context, resourceID string) ([]*directory.Principal, error)

// Identities calls f.
func (f ResolverFunc) Identities(ctx context.Context, resourceID string) ([]*directory.Principal, error) {
	return f(ctx, resourceID)
}

// Workload is a registered workload. Values handed out by the Registry are
// copies: changing them changes nothing in the registry.
type Workload struct {
	// ID is 64 lower-case hex characters (256 random bits). It is a
	// credential: never log it (use Handle).
	ID string
	// Handle is a short public name for logs and listings ("wl-" + 12 hex
	// characters, random, unrelated to ID). Not a credential.
	Handle string
	// ResourceID is the ARM resource the workload runs on behalf of.
	ResourceID string
	// Secret is 64 lower-case hex characters (256 random bits), handed to
	// the workload as MSI_SECRET and IDENTITY_HEADER. Never log it.
	Secret string
	// DefaultClientID is the client ID of the resource's default identity
	// when that identity is user-assigned (rule CMP-3:
	// DEFAULT_IDENTITY_CLIENT_ID), as it was at registration; empty when the
	// default identity is system-assigned or there is none.
	DefaultClientID string
	// ProxySecret is 64 lower-case hex characters (256 random bits): the
	// password of the workload's own HTTPS_PROXY URL (ProxyEnvFor). amlid's
	// proxy maps it back to the workload, so requests tunnelled with it come
	// from the workload's resource on amlid's network (virtual-network rules,
	// rule DS-8). Never log it.
	ProxySecret string
	// Label describes the workload for people ("job j1", "deployment
	// blue"); optional, never a secret.
	Label   string
	Created time.Time

	pinned bool // DefaultClientID was chosen by the caller
}

// LogValue keeps credentials out of structured logs.
func (w *Workload) LogValue() slog.Value {
	if w == nil {
		return slog.StringValue("<nil>")
	}
	return slog.GroupValue(slog.String("handle", w.Handle), slog.String("resource", w.ResourceID), slog.String("label", w.Label))
}

// String keeps credentials out of %v.
func (w *Workload) String() string {
	if w == nil {
		return "<nil workload>"
	}
	return fmt.Sprintf("workload %s (%s)", w.Handle, w.ResourceID)
}

// Option configures Register.
type Option func(*Workload)

// WithLabel sets the workload's Label.
func WithLabel(label string) Option { return func(w *Workload) { w.Label = label } }

// WithDefaultClientID makes the user-assigned identity with this client ID
// the workload's default (DEFAULT_IDENTITY_CLIENT_ID); Register refuses a
// client ID the resource does not hold (rule ID-3).
func WithDefaultClientID(clientID string) Option {
	return func(w *Workload) { w.DefaultClientID = clientID; w.pinned = true }
}

// Errors.
var (
	ErrNoResource = errors.New("workload: a workload needs the ARM ID of the resource it runs on behalf of")
)

// Registry holds the live workloads. The zero value is not usable; create
// one with NewRegistry. It is safe for concurrent use.
type Registry struct {
	res Resolver
	now func() time.Time

	mu sync.RWMutex
	// byKey is keyed by SHA-256(ID), so that a lookup compares digests, not
	// the credential itself.
	byKey map[[sha256.Size]byte]*Workload
	// byProxy is keyed by SHA-256(ProxySecret).
	byProxy map[[sha256.Size]byte]*Workload
}

// NewRegistry returns an empty registry over r.
func NewRegistry(r Resolver) *Registry {
	return &Registry{res: r, now: time.Now, byKey: map[[sha256.Size]byte]*Workload{}, byProxy: map[[sha256.Size]byte]*Workload{}}
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("workload: reading random bytes: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func keyOf(id string) [sha256.Size]byte { return sha256.Sum256([]byte(id)) }

// Register creates a workload for resourceID with a new random ID and
// secret. It asks the Resolver once for the default identity (for
// DefaultClientID); an error from the Resolver fails the registration
// (a resource the Resolver does not know: an error wrapping
// directory.ErrNotFound).
// A resource without identities may still register (its token requests
// are refused with a clear error).
func (r *Registry) Register(ctx context.Context, resourceID string, opts ...Option) (*Workload, error) {
	resourceID = strings.TrimSpace(resourceID)
	if resourceID == "" {
		return nil, ErrNoResource
	}
	ids, err := r.resolve(ctx, resourceID)
	if err != nil {
		return nil, fmt.Errorf("workload: cannot register a workload for %s: %w", resourceID, err)
	}
	w := &Workload{ResourceID: resourceID, Created: r.now().UTC()}
	if len(ids) > 0 && !ids[0].SystemAssigned {
		w.DefaultClientID = ids[0].AppID
	}
	for _, o := range opts {
		o(w)
	}
	if w.pinned {
		held := false
		for _, p := range ids {
			held = held || strings.EqualFold(p.AppID, w.DefaultClientID)
		}
		if !held {
			return nil, fmt.Errorf("workload: %s holds no managed identity with client ID %s (rule ID-3)", resourceID, w.DefaultClientID)
		}
	}
	if w.Secret, err = randomHex(SecretBytes); err != nil {
		return nil, err
	}
	if w.ProxySecret, err = randomHex(SecretBytes); err != nil {
		return nil, err
	}
	if w.Handle, err = randomHex(handleBytes); err != nil {
		return nil, err
	}
	w.Handle = "wl-" + w.Handle
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		if w.ID, err = randomHex(IDBytes); err != nil {
			return nil, err
		}
		if _, dup := r.byKey[keyOf(w.ID)]; !dup { // 2^-256; but never reuse
			break
		}
	}
	r.byKey[keyOf(w.ID)] = w
	r.byProxy[keyOf(w.ProxySecret)] = w
	c := *w
	return &c, nil
}

// Unregister forgets a workload: its ID and secret stop working at once.
// Call it when the process ends. Unknown IDs are ignored.
func (r *Registry) Unregister(id string) {
	r.mu.Lock()
	if w := r.byKey[keyOf(id)]; w != nil {
		delete(r.byProxy, keyOf(w.ProxySecret))
	}
	delete(r.byKey, keyOf(id))
	r.mu.Unlock()
}

// UnregisterResource forgets every workload of a resource (call it when
// the resource is deleted) and returns how many there were.
func (r *Registry) UnregisterResource(resourceID string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for k, w := range r.byKey {
		if strings.EqualFold(w.ResourceID, resourceID) {
			delete(r.byKey, k)
			delete(r.byProxy, keyOf(w.ProxySecret))
			n++
		}
	}
	return n
}

func (r *Registry) get(id string) *Workload {
	if len(id) != IDLen {
		return nil
	}
	r.mu.RLock()
	w := r.byKey[keyOf(id)]
	r.mu.RUnlock()
	return w
}

// ByID returns (a copy of) a live workload.
func (r *Registry) ByID(id string) (*Workload, bool) {
	w := r.get(id)
	if w == nil {
		return nil, false
	}
	c := *w
	return &c, true
}

// Authenticate returns the live workload with this ID when secret is its
// secret (compared in constant time), else false. Unknown IDs and wrong
// secrets are indistinguishable to the caller.
func (r *Registry) Authenticate(id, secret string) (*Workload, bool) {
	w := r.get(id)
	if w == nil {
		// Spend the same comparison on a dummy, so timing does not say
		// whether the ID exists.
		subtle.ConstantTimeCompare([]byte(secret), []byte(dummySecret))
		return nil, false
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(w.Secret)) != 1 {
		return nil, false
	}
	c := *w
	return &c, true
}

var dummySecret = strings.Repeat("0", 2*SecretBytes)

// ByProxySecret returns (a copy of) the live workload whose proxy
// credential is secret. The lookup is by SHA-256 digest, so its timing
// says nothing about the secret.
func (r *Registry) ByProxySecret(secret string) (*Workload, bool) {
	if len(secret) != 2*SecretBytes {
		return nil, false
	}
	r.mu.RLock()
	w := r.byProxy[keyOf(secret)]
	r.mu.RUnlock()
	if w == nil {
		return nil, false
	}
	c := *w
	return &c, true
}

// SecretMatches reports, in constant time, whether secret is w's secret.
func SecretMatches(w *Workload, secret string) bool {
	if w == nil || w.Secret == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(secret), []byte(w.Secret)) == 1
}

// List returns copies of the live workloads, oldest first, WITHOUT their
// ID and secret (for listings and diagnostics).
func (r *Registry) List() []*Workload {
	r.mu.RLock()
	out := make([]*Workload, 0, len(r.byKey))
	for _, w := range r.byKey {
		c := *w
		c.ID, c.Secret, c.ProxySecret = "", "", ""
		out = append(out, &c)
	}
	r.mu.RUnlock()
	sortByCreated(out)
	return out
}

func sortByCreated(ws []*Workload) {
	for i := 1; i < len(ws); i++ {
		for j := i; j > 0 && (ws[j].Created.Before(ws[j-1].Created) ||
			(ws[j].Created.Equal(ws[j-1].Created) && ws[j].Handle < ws[j-1].Handle)); j-- {
			ws[j], ws[j-1] = ws[j-1], ws[j]
		}
	}
}

// Len is the number of live workloads.
func (r *Registry) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.byKey)
}

// Identities returns the managed identities w's resource holds now,
// default first. It fails when w is no longer registered (credentials die
// with the process).
func (r *Registry) Identities(ctx context.Context, w *Workload) ([]*directory.Principal, error) {
	if w == nil || r.get(w.ID) == nil {
		return nil, ErrUnknownWorkload
	}
	ids, err := r.resolve(ctx, w.ResourceID)
	if errors.Is(err, directory.ErrNotFound) { // the resource is gone: no identity
		return nil, nil
	}
	return ids, err
}

// ErrUnknownWorkload: the workload is not (or no longer) registered.
var ErrUnknownWorkload = errors.New("workload: unknown or ended workload")

// resolve asks the Resolver and keeps only usable managed identities.
func (r *Registry) resolve(ctx context.Context, resourceID string) ([]*directory.Principal, error) {
	if r.res == nil {
		return nil, nil
	}
	ids, err := r.res.Identities(ctx, resourceID)
	if err != nil {
		return nil, fmt.Errorf("identities of %s: %w", resourceID, err)
	}
	out := ids[:0:0]
	for _, p := range ids {
		if p != nil && p.IsManagedIdentity() {
			out = append(out, p)
		}
	}
	return out, nil
}
