package ws

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/rs/zerolog"
)

// KeySet holds the public keys that verify access tokens signed with
// RS256, PS256, ES256, EdDSA and their kin: read once from PEM, or
// fetched from a JWKS URL (as identity providers publish them) and fetched
// again when a token names a key it does not hold, or when it is old, so
// that keys an issuer rotates in are picked up.
type KeySet struct {
	url    string // "" for keys from PEM
	client *http.Client
	log    zerolog.Logger

	mu      sync.Mutex
	keys    []publicKey
	fetched time.Time // when keys were last fetched (or tried)
}

type publicKey struct {
	kid string // "" when unnamed
	key crypto.PublicKey
}

const (
	// jwksRefetchAfter is how long after a fetch a token naming an
	// unknown key makes pgfeed fetch the set again: a flood of such tokens
	// costs the issuer one fetch per period.
	jwksRefetchAfter = 10 * time.Second
	// jwksMaxAge is how old a fetched set may get before the next token
	// has it fetched again.
	jwksMaxAge = 10 * time.Minute
	// jwksFetchTimeout bounds one fetch: the Directus SDK waits 1 s for
	// the answer to auth.
	jwksFetchTimeout = 2 * time.Second
	// maxJWKSBytes bounds the size of a fetched set.
	maxJWKSBytes = 1 << 20
)

// ParsePublicKeys reads public keys from PEM: PKIX ("PUBLIC KEY"), PKCS #1
// ("RSA PUBLIC KEY") or certificates. A token verifies with any of them.
func ParsePublicKeys(data []byte) (*KeySet, error) {
	ks := &KeySet{}
	for n := 1; ; n++ {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		key, err := parsePEMKey(b)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d (%s): %w", n, b.Type, err)
		}
		ks.keys = append(ks.keys, publicKey{key: key})
	}
	if len(ks.keys) == 0 {
		return nil, errors.New("no PEM public key or certificate found")
	}
	return ks, nil
}

func parsePEMKey(b *pem.Block) (crypto.PublicKey, error) {
	switch b.Type {
	case "PUBLIC KEY":
		return x509.ParsePKIXPublicKey(b.Bytes)
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(b.Bytes)
	case "CERTIFICATE":
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		return c.PublicKey, nil
	}
	return nil, errors.New("want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE (a public key, never a private one)")
}

// FetchJWKS fetches the JSON Web Key Set at url, and keeps fetching it
// again as KeySet says, logging to log when that fails. A nil client means
// http.DefaultClient.
func FetchJWKS(ctx context.Context, url string, client *http.Client, log zerolog.Logger) (*KeySet, error) {
	if client == nil {
		client = http.DefaultClient
	}
	ks := &KeySet{url: url, client: client, log: log.With().Str("component", "jwks").Logger()}
	keys, err := ks.fetch(ctx)
	if err != nil {
		return nil, err
	}
	ks.keys, ks.fetched = keys, time.Now()
	return ks, nil
}

// key returns what verifies a token whose header names kid ("" for none):
// the key of that kid in a set fetched from a URL, else every key of the
// set (the token's signature decides which fits). A set fetched from a URL
// is fetched again when it lacks kid (at most once per jwksRefetchAfter;
// the token waits for it) or is older than jwksMaxAge (in the background;
// the token is checked with the keys at hand). A failed fetch keeps the
// keys the set had.
func (ks *KeySet) key(ctx context.Context, kid string) (any, error) {
	ks.mu.Lock()
	k, err := ks.findLocked(kid)
	refetch := false
	if ks.url != "" {
		age := time.Since(ks.fetched)
		refetch = (err != nil && age >= jwksRefetchAfter) || age >= jwksMaxAge
		if refetch {
			ks.fetched = time.Now()
		}
	}
	ks.mu.Unlock()
	switch {
	case !refetch:
		return k, err
	case err == nil:
		go ks.refetch(context.WithoutCancel(ctx))
		return k, nil
	}
	ks.refetch(ctx)
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.findLocked(kid)
}

// refetch fetches the set again and keeps what it gets; on an error it
// keeps the keys it has, and logs.
func (ks *KeySet) refetch(ctx context.Context) {
	keys, err := ks.fetch(ctx)
	if err != nil {
		ks.log.Warn().Err(err).Msg("could not fetch the JWT key set again; keeping the keys fetched before")
		return
	}
	ks.mu.Lock()
	ks.keys = keys
	ks.mu.Unlock()
}

func (ks *KeySet) findLocked(kid string) (any, error) {
	if kid != "" && ks.url != "" {
		for _, k := range ks.keys {
			if k.kid == kid {
				return k.key, nil
			}
		}
		return nil, fmt.Errorf("no key %q in the key set", kid)
	}
	set := jwt.VerificationKeySet{Keys: make([]jwt.VerificationKey, len(ks.keys))}
	for i, k := range ks.keys {
		set.Keys[i] = k.key
	}
	return set, nil
}

// fetch gets and parses the set.
func (ks *KeySet) fetch(ctx context.Context) ([]publicKey, error) {
	ctx, cancel := context.WithTimeout(ctx, jwksFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ks.url, nil)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	res, err := ks.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks: GET %s: %s", ks.url, res.Status)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("jwks: read %s: %w", ks.url, err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("jwks: %s is larger than %d bytes", ks.url, maxJWKSBytes)
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return nil, fmt.Errorf("jwks: %s: %w", ks.url, err)
	}
	return keys, nil
}

// jwk is a JSON Web Key (RFC 7517), the members pgfeed reads.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS reads the signature keys of a JWKS document: RSA, EC (P-256,
// P-384, P-521) and OKP (Ed25519). Keys of other types, or for encryption
// ("use":"enc"), are skipped; a set with no key pgfeed can use is an error.
func parseJWKS(data []byte) ([]publicKey, error) {
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not a JSON Web Key Set: %w", err)
	}
	var keys []publicKey
	for i, k := range doc.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		key, err := k.publicKey()
		if err != nil {
			return nil, fmt.Errorf("key %d (kid %q): %w", i, k.Kid, err)
		}
		if key != nil {
			keys = append(keys, publicKey{kid: k.Kid, key: key})
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("no RSA, EC or Ed25519 signature key in the set")
	}
	return keys, nil
}

// publicKey is the key k describes; nil for a type pgfeed does not use.
func (k *jwk) publicKey() (crypto.PublicKey, error) {
	switch k.Kty {
	case "RSA":
		n, err := b64Int(k.N, "n")
		if err != nil {
			return nil, err
		}
		e, err := b64Int(k.E, "e")
		if err != nil {
			return nil, err
		}
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
			return nil, errors.New("RSA exponent e out of range")
		}
		return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
	case "EC":
		var c elliptic.Curve
		switch k.Crv {
		case "P-256":
			c = elliptic.P256()
		case "P-384":
			c = elliptic.P384()
		case "P-521":
			c = elliptic.P521()
		default:
			return nil, fmt.Errorf("EC curve %q: want P-256, P-384 or P-521", k.Crv)
		}
		x, err := b64Int(k.X, "x")
		if err != nil {
			return nil, err
		}
		y, err := b64Int(k.Y, "y")
		if err != nil {
			return nil, err
		}
		size := (c.Params().BitSize + 7) / 8
		if x.BitLen() > 8*size || y.BitLen() > 8*size {
			return nil, errors.New("EC point out of range")
		}
		point := make([]byte, 1+2*size)
		point[0] = 4 // uncompressed
		x.FillBytes(point[1 : 1+size])
		y.FillBytes(point[1+size:])
		key, err := ecdsa.ParseUncompressedPublicKey(c, point)
		if err != nil {
			return nil, fmt.Errorf("EC point: %w", err)
		}
		return key, nil
	case "OKP":
		if k.Crv != "Ed25519" {
			return nil, nil
		}
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("Ed25519 x: want 32 bytes, base64url")
		}
		return ed25519.PublicKey(x), nil
	}
	return nil, nil
}

func b64Int(s, name string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("%s: want a base64url number", name)
	}
	return new(big.Int).SetBytes(b), nil
}
