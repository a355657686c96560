package ws

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/rs/zerolog"
)

// testKeys are one private key of each kind a KeySet takes.
type testKeys struct {
	rsa  *rsa.PrivateKey
	ec   *ecdsa.PrivateKey
	ed   ed25519.PrivateKey
	rsa2 *rsa.PrivateKey // not in any set
}

func newTestKeys(t testing.TB) *testKeys {
	t.Helper()
	k := &testKeys{}
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if k.rsa2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	if _, k.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	return k
}

func pemBlock(t testing.TB, typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func pkixPEM(t testing.TB, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pemBlock(t, "PUBLIC KEY", der)
}

// signedWith signs a token for subject sub with key and method, naming kid
// when it is not "".
func signedWith(t testing.TB, m jwt.SigningMethod, key any, kid, sub string) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, jwt.MapClaims{"sub": sub, "role": "member", "exp": time.Now().Add(time.Hour).Unix()})
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func keyServer(cfg Config) *Server {
	return &Server{cfg: cfg, methods: tokenMethods(&cfg), ctx: context.Background()}
}

func TestPublicKeysFromPEM(t *testing.T) {
	k := newTestKeys(t)
	cert := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "issuer"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	certDER, err := x509.CreateCertificate(rand.Reader, cert, cert, k.ec.Public(), k.ec)
	if err != nil {
		t.Fatal(err)
	}
	// An RSA key in PKCS #1, an Ed25519 key in PKIX, the EC key in a certificate.
	data := append(pemBlock(t, "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)), pkixPEM(t, k.ed.Public())...)
	data = append(data, pemBlock(t, "CERTIFICATE", certDER)...)
	keys, err := ParsePublicKeys(data)
	if err != nil {
		t.Fatal(err)
	}
	s := keyServer(Config{JWTKeys: keys})
	for _, tt := range []struct {
		desc string
		tok  string
	}{
		{"RS256", signedWith(t, jwt.SigningMethodRS256, k.rsa, "", "a")},
		{"PS384", signedWith(t, jwt.SigningMethodPS384, k.rsa, "any-kid", "a")},
		{"ES256", signedWith(t, jwt.SigningMethodES256, k.ec, "", "a")},
		{"EdDSA", signedWith(t, jwt.SigningMethodEdDSA, k.ed, "", "a")},
	} {
		cl, err := s.verifyToken(tt.tok)
		if err != nil || cl.subject != "a" || cl.role != "member" {
			t.Errorf("%s: verifyToken = %+v, %v; want subject a, role member", tt.desc, cl, err)
		}
	}
	pubPEM := pkixPEM(t, &k.rsa.PublicKey)
	for _, tt := range []struct {
		desc string
		s    *Server
		tok  string
	}{
		{"another RSA key", s, signedWith(t, jwt.SigningMethodRS256, k.rsa2, "", "a")},
		{"HS256 with no secret", s, signedWith(t, jwt.SigningMethodHS256, []byte("x"), "", "a")},
		// The classic confusion: the public key, which anyone has, used as
		// an HS256 secret.
		{"HS256 signed with the public key", s, signedWith(t, jwt.SigningMethodHS256, pubPEM, "", "a")},
		{"HS256 signed with the public key, with a secret set", keyServer(Config{JWTKeys: keys, JWTSecret: testSecret}),
			signedWith(t, jwt.SigningMethodHS256, pubPEM, "", "a")},
		{"none", s, signedWith(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", "a")},
		{"RS256 with no keys", keyServer(Config{JWTSecret: testSecret}), signedWith(t, jwt.SigningMethodRS256, k.rsa, "", "a")},
	} {
		if cl, err := tt.s.verifyToken(tt.tok); err == nil {
			t.Errorf("%s: verifyToken = %+v, want an error", tt.desc, cl)
		}
	}
	if cl, err := keyServer(Config{JWTKeys: keys, JWTSecret: testSecret}).verifyToken(signedWith(t, jwt.SigningMethodHS256, testSecret, "", "h")); err != nil || cl.subject != "h" {
		t.Errorf("HS256 beside public keys: %+v, %v", cl, err)
	}

	der, err := x509.MarshalPKCS8PrivateKey(k.rsa)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ desc, data, want string }{
		{"no PEM", "not a key", "no PEM public key or certificate found"},
		{"a private key", string(pemBlock(t, "PRIVATE KEY", der)), "never a private one"},
		{"garbage in a block", string(pemBlock(t, "PUBLIC KEY", []byte("junk"))), "PEM block 1 (PUBLIC KEY)"},
	} {
		if _, err := ParsePublicKeys([]byte(tt.data)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: ParsePublicKeys = %v, want an error containing %q", tt.desc, err, tt.want)
		}
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func rsaJWK(kid string, k *rsa.PublicKey) map[string]any {
	return map[string]any{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
}

// jwksServer serves a key set that the test can change, and counts the
// fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []map[string]any
	fetches atomic.Int64
}

func newJWKSServer(t testing.TB, keys ...map[string]any) *jwksServer {
	j := &jwksServer{keys: keys}
	j.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.fetches.Add(1)
		j.mu.Lock()
		defer j.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"keys": j.keys})
	}))
	t.Cleanup(j.Close)
	return j
}

func (j *jwksServer) set(keys ...map[string]any) {
	j.mu.Lock()
	j.keys = keys
	j.mu.Unlock()
}

func TestJWKS(t *testing.T) {
	k := newTestKeys(t)
	ecPub := k.ec.PublicKey
	ecBytes, err := ecPub.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	srv := newJWKSServer(t,
		rsaJWK("r1", &k.rsa.PublicKey),
		map[string]any{"kty": "EC", "kid": "e1", "crv": "P-256", "x": b64(ecBytes[1:33]), "y": b64(ecBytes[33:])},
		map[string]any{"kty": "OKP", "kid": "o1", "crv": "Ed25519", "x": b64(k.ed.Public().(ed25519.PublicKey))},
		map[string]any{"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"}, // for encryption: skipped
		map[string]any{"kty": "oct", "kid": "sym", "k": "c2VjcmV0"},                        // a secret: never used
	)
	keys, err := FetchJWKS(context.Background(), srv.URL, nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	s := keyServer(Config{JWTKeys: keys})
	ok := func(desc, tok string) {
		t.Helper()
		if cl, err := s.verifyToken(tok); err != nil || cl.subject != "s" {
			t.Errorf("%s: verifyToken = %+v, %v; want subject s", desc, cl, err)
		}
	}
	refused := func(desc, tok string) {
		t.Helper()
		if cl, err := s.verifyToken(tok); err == nil {
			t.Errorf("%s: verifyToken = %+v, want an error", desc, cl)
		}
	}
	ok("RS256 r1", signedWith(t, jwt.SigningMethodRS256, k.rsa, "r1", "s"))
	ok("ES256 e1", signedWith(t, jwt.SigningMethodES256, k.ec, "e1", "s"))
	ok("EdDSA o1", signedWith(t, jwt.SigningMethodEdDSA, k.ed, "o1", "s"))
	ok("no kid", signedWith(t, jwt.SigningMethodRS256, k.rsa, "", "s"))
	refused("r1's key named e1", signedWith(t, jwt.SigningMethodRS256, k.rsa, "e1", "s"))
	refused("HS256 with the oct key", signedWith(t, jwt.SigningMethodHS256, []byte("secret"), "sym", "s"))
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1: a token naming a kid the set lacks, right after a fetch, must not fetch again", n)
	}

	// The issuer rotates in r2. A token naming it has the set fetched
	// again (once the last fetch is jwksRefetchAfter old).
	srv.set(rsaJWK("r2", &k.rsa2.PublicKey))
	keys.mu.Lock()
	keys.fetched = time.Now().Add(-jwksRefetchAfter)
	keys.mu.Unlock()
	ok("RS256 r2 after rotation", signedWith(t, jwt.SigningMethodRS256, k.rsa2, "r2", "s"))
	refused("r1 after rotation", signedWith(t, jwt.SigningMethodRS256, k.rsa, "r1", "s"))
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}

	// An old set is fetched again in the background; the token does not
	// wait for it.
	srv.set(rsaJWK("r2", &k.rsa2.PublicKey), rsaJWK("r3", &k.rsa.PublicKey))
	keys.mu.Lock()
	keys.fetched = time.Now().Add(-jwksMaxAge)
	keys.mu.Unlock()
	ok("RS256 r2 with an old set", signedWith(t, jwt.SigningMethodRS256, k.rsa2, "r2", "s"))
	waitFor(t, "the old set fetched again", func() bool { return srv.fetches.Load() == 3 })
	waitFor(t, "r3 from the background fetch", func() bool {
		_, err := s.verifyToken(signedWith(t, jwt.SigningMethodRS256, k.rsa, "r3", "s"))
		return err == nil
	})

	// A failed fetch keeps the keys the set had.
	srv.Close()
	keys.mu.Lock()
	keys.fetched = time.Now().Add(-jwksRefetchAfter)
	keys.mu.Unlock()
	refused("unknown kid with the issuer down", signedWith(t, jwt.SigningMethodRS256, k.rsa, "r9", "s"))
	ok("r2 with the issuer down", signedWith(t, jwt.SigningMethodRS256, k.rsa2, "r2", "s"))
}

func TestJWKSErrors(t *testing.T) {
	k := newTestKeys(t)
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	if _, err := FetchJWKS(context.Background(), notFound.URL, nil, zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "404 Not Found") {
		t.Errorf("404: FetchJWKS = %v", err)
	}
	for _, tt := range []struct {
		desc string
		doc  string
		want string
	}{
		{"not JSON", `<html>`, "not a JSON Web Key Set"},
		{"no usable key", `{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`, "no RSA, EC or Ed25519 signature key"},
		{"bad RSA modulus", `{"keys":[{"kty":"RSA","kid":"x","n":"!!","e":"AQAB"}]}`, `key 0 (kid "x"): n: want a base64url number`},
		{"bad curve", `{"keys":[{"kty":"EC","crv":"P-192","x":"AQ","y":"AQ"}]}`, `EC curve "P-192"`},
		{"point off the curve", `{"keys":[{"kty":"EC","crv":"P-256","x":"AQ","y":"AQ"}]}`, "EC point"},
	} {
		if _, err := parseJWKS([]byte(tt.doc)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: parseJWKS = %v, want an error containing %q", tt.desc, err, tt.want)
		}
	}
	// A set of several keys and a token that names none: each is tried.
	srv := newJWKSServer(t, rsaJWK("a", &k.rsa2.PublicKey), rsaJWK("b", &k.rsa.PublicKey))
	keys, err := FetchJWKS(context.Background(), srv.URL, nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keyServer(Config{JWTKeys: keys}).verifyToken(signedWith(t, jwt.SigningMethodRS256, k.rsa, "", "s")); err != nil {
		t.Errorf("no kid in a set of two: %v", err)
	}
}
