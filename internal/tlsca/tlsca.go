// Package tlsca keeps amlid's local certificate authority. Most Azure clients
// refuse bearer tokens over plain http (client-protocols.md §0), so every
// HTTPS listener serves a leaf certificate signed by a CA that amlid creates
// on first start in its data directory and reuses afterwards. Trusting that
// one CA file (SSL_CERT_FILE, REQUESTS_CA_BUNDLE) is the only step a client
// needs.
package tlsca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// File names inside the CA directory.
const (
	CAFile     = "ca.pem"
	caKeyFile  = "ca-key.pem"
	leafFile   = "server.pem"
	leafKeyFle = "server-key.pem"
)

// DefaultNames are the names every leaf certificate carries.
var DefaultNames = []string{"localhost", "127.0.0.1", "::1"}

// CA is a loaded certificate authority and its current server certificate.
type CA struct {
	Dir     string
	Cert    *x509.Certificate
	key     crypto.Signer
	Leaf    tls.Certificate
	CertPEM []byte
}

// CAPath is the PEM file clients must trust.
func (c *CA) CAPath() string { return filepath.Join(c.Dir, CAFile) }

// Pool returns a cert pool holding only this CA.
func (c *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.Cert)
	return p
}

// TLSConfig is the server side configuration for every listener.
func (c *CA) TLSConfig() *tls.Config {
	leaf := c.Leaf
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{leaf},
	}
}

// ClientTLSConfig trusts only this CA.
func (c *CA) ClientTLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: c.Pool()}
}

// LoadOrCreate opens the CA in dir, creating it (and the directory) on first
// use. The leaf certificate is re-issued when it is missing, expires within
// 30 days, or lacks one of names (DefaultNames are always added).
func LoadOrCreate(dir string, names ...string) (*CA, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("tlsca: %w", err)
	}
	c := &CA{Dir: dir}
	certPEM, errC := os.ReadFile(filepath.Join(dir, CAFile))
	keyPEM, errK := os.ReadFile(filepath.Join(dir, caKeyFile))
	switch {
	case errC == nil && errK == nil:
		cert, key, err := parsePair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("tlsca: the CA in %s is unreadable (%v); remove %s and %s to create a new one", dir, err, CAFile, caKeyFile)
		}
		c.Cert, c.key, c.CertPEM = cert, key, certPEM
	case errors.Is(errC, os.ErrNotExist) && errors.Is(errK, os.ErrNotExist):
		if err := c.create(); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("tlsca: incomplete CA in %s (ca: %v, key: %v)", dir, errC, errK)
	}
	all := append(slices.Clone(DefaultNames), names...)
	if err := c.loadOrIssueLeaf(all); err != nil {
		return nil, err
	}
	return c, nil
}

func newKey() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

func (c *CA) create() error {
	key, err := newKey()
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "amlid local CA " + host, Organization: []string{"amlid"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("tlsca: %w", err)
	}
	cert, _ := x509.ParseCertificate(der)
	c.Cert, c.key = cert, key
	c.CertPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	kb, _ := x509.MarshalPKCS8PrivateKey(key)
	if err := writeFile(filepath.Join(c.Dir, caKeyFile), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return err
	}
	return writeFile(filepath.Join(c.Dir, CAFile), c.CertPEM, 0o600)
}

func (c *CA) loadOrIssueLeaf(names []string) error {
	lp, kp := filepath.Join(c.Dir, leafFile), filepath.Join(c.Dir, leafKeyFle)
	if certPEM, err := os.ReadFile(lp); err == nil {
		if keyPEM, err := os.ReadFile(kp); err == nil {
			if leaf, err := tls.X509KeyPair(certPEM, keyPEM); err == nil {
				if x, err := x509.ParseCertificate(leaf.Certificate[0]); err == nil &&
					time.Until(x.NotAfter) > 30*24*time.Hour && covers(x, names) &&
					x.CheckSignatureFrom(c.Cert) == nil {
					leaf.Leaf = x
					c.Leaf = leaf
					return nil
				}
			}
		}
	}
	der, key, err := c.signServer("amlid", names)
	if err != nil {
		return fmt.Errorf("tlsca: issue server certificate: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	kb, _ := x509.MarshalPKCS8PrivateKey(key)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb})
	if err := writeFile(kp, keyPEM, 0o600); err != nil {
		return err
	}
	if err := writeFile(lp, certPEM, 0o600); err != nil {
		return err
	}
	leaf, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return err
	}
	leaf.Leaf, _ = x509.ParseCertificate(der)
	c.Leaf = leaf
	return nil
}

// signServer signs a new key's server certificate (TLS server auth, a
// year) for names, DNS names or IP addresses, with subject CN cn.
func (c *CA) signServer(cn string, names []string) ([]byte, *ecdsa.PrivateKey, error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"amlid"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.Cert, &key.PublicKey, c.key)
	return der, key, err
}

func covers(x *x509.Certificate, names []string) bool {
	for _, n := range names {
		if x.VerifyHostname(n) != nil {
			return false
		}
	}
	return true
}

func parsePair(certPEM, keyPEM []byte) (*x509.Certificate, crypto.Signer, error) {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, errors.New("not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, nil, errors.New("CA key cannot sign")
	}
	return cert, s, nil
}

// writeFile writes atomically (temp file + rename) so a crash never leaves a
// half-written key behind.
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// IssueLeaf signs an in-memory server certificate for names (DNS names or
// IP addresses), valid for a year. Listeners use it to answer a TLS client
// that asked, by SNI, for a name the shared leaf does not carry (a key
// vault reached as {vault}.vault.azure.net through amlid's proxy).
func (c *CA) IssueLeaf(names ...string) (tls.Certificate, error) {
	der, key, err := c.signServer(names[0], names)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tlsca: issue certificate for %v: %w", names, err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
