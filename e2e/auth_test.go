package e2e

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/golang-jwt/jwt/v5"
	"github.com/pgfeed/pgfeed/store/storetest"
)

// upgradeStatus tries a WebSocket upgrade and returns the HTTP status: 101
// on success.
func upgradeStatus(t *testing.T, url string, header http.Header) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, _, err := ws.Dialer{Header: ws.HandshakeHeaderHTTP(header)}.Dial(ctx, url)
	if err == nil {
		conn.Close()
		return http.StatusSwitchingProtocols
	}
	var se ws.StatusError
	if errors.As(err, &se) {
		return int(se)
	}
	t.Fatalf("dial %s: %v", url, err)
	return 0
}

// TestServeStrictAuthAndOrigins checks the security flags as a deployment
// sets them: strict mode refuses upgrades without a valid token (401), the
// Origin allow-list refuses other sites (403), and a token signed with the
// configured secret, in the URL or a header, gets in.
func TestServeStrictAuthAndOrigins(t *testing.T) {
	t.Parallel()
	u := newMessagesDB(t)
	const jwtSecret = "strict-secret-0123456789abcdef"
	s := startServer(t, u, "--auth-mode", "strict", "--jwt-secret", jwtSecret, "--allowed-origins", "https://app.example")
	good := signToken(t, jwtSecret)
	bad := signToken(t, "some-other-secret-0123456789abcdef")
	app := http.Header{"Origin": {"https://app.example"}}
	tests := []struct {
		desc   string
		query  string
		header http.Header
		want   int
	}{
		{"no token", "", app, http.StatusUnauthorized},
		{"token signed with another secret", "?access_token=" + bad, app, http.StatusUnauthorized},
		{"token in the URL", "?access_token=" + good, app, http.StatusSwitchingProtocols},
		{"token in a header", "", http.Header{"Origin": {"https://app.example"}, "Authorization": {"Bearer " + good}}, http.StatusSwitchingProtocols},
		{"other site", "?access_token=" + good, http.Header{"Origin": {"https://evil.example"}}, http.StatusForbidden},
	}
	for _, tt := range tests {
		if got := upgradeStatus(t, s.wsURL()+tt.query, tt.header); got != tt.want {
			t.Errorf("%s: upgrade status %d, want %d", tt.desc, got, tt.want)
		}
	}

	c := dial(t, s.wsURL()+"?access_token="+good, app)
	c.send(map[string]any{"type": "subscribe", "collection": "messages", "uid": "s"})
	if m := c.read(10 * time.Second); m["event"] != "init" {
		t.Fatalf("subscribe after strict upgrade = %v, want init", m)
	}
}

// TestServePermissions runs `pgfeed serve --permissions` with a role that
// may read two fields of its own messages: the snapshot and the events
// hold those alone, and a field it may not read is refused.
func TestServePermissions(t *testing.T) {
	t.Parallel()
	u := newMessagesDB(t)
	const jwtSecret = "permissions-secret-0123456789abcdef"
	tok := signToken(t, jwtSecret) // role reader
	me := "9f1c7c4e-0000-4000-8000-000000000001"
	storetest.Exec(t, u, `INSERT INTO messages (text, author) VALUES ('mine', '`+me+`'), ('theirs', 'bob')`)
	perms := filepath.Join(t.TempDir(), "permissions.json")
	rules := `{"reader": {"messages": {"fields": ["id", "text"], "filter": {"author": {"_eq": "$CURRENT_USER"}}}}}`
	if err := os.WriteFile(perms, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, u, "--auth-mode", "handshake", "--jwt-secret", jwtSecret, "--permissions", perms)
	s.waitReady(t)

	c := dial(t, s.wsURL(), nil)
	c.send(map[string]any{"type": "auth", "access_token": tok})
	if m := c.read(10 * time.Second); m["status"] != "ok" {
		t.Fatalf("auth reply = %v", m)
	}
	c.send(map[string]any{"type": "subscribe", "collection": "messages", "uid": "a", "query": map[string]any{"fields": []string{"text", "author"}}})
	if m := c.read(10 * time.Second); m["status"] != "error" || fmt.Sprint(m["error"]) != `map[code:FORBIDDEN message:role "reader" may not read field "author" of collection "messages", or it does not exist]` {
		t.Fatalf("subscribe with a field the role may not read = %v", m)
	}
	if code, metrics := get(t, s.httpURL()+"/metrics"); code != http.StatusOK || !strings.Contains(metrics, `pgfeed_ws_errors_total{code="FORBIDDEN"} 1`+"\n") {
		t.Fatalf("/metrics = %d, want the FORBIDDEN reply counted:\n%s", code, metrics)
	}
	c.send(map[string]any{"type": "subscribe", "collection": "messages", "uid": "m"})
	init := c.read(10 * time.Second)
	if init["event"] != "init" {
		t.Fatalf("subscribe = %v, want init", init)
	}
	jsonEqual(t, "init data", init["data"], `[{"id":1,"text":"mine"}]`)
	storetest.Exec(t, u, `INSERT INTO messages (text, author) VALUES ('theirs too', 'bob')`)
	storetest.Exec(t, u, `INSERT INTO messages (text, author) VALUES ('mine too', '`+me+`')`)
	expectEvent(t, c, "m", "create", `[{"id":4,"text":"mine too"}]`)

	// New rules, read on SIGHUP: the role's subscription starts over.
	rewrite := func(rules string) int {
		t.Helper()
		if err := os.WriteFile(perms, []byte(rules), 0o600); err != nil {
			t.Fatal(err)
		}
		lines, _ := s.stderr.snapshot()
		if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		return len(lines)
	}
	from := rewrite(`{"reader": {"messages": {"fields": ["id", "text", "author"]}}}`)
	if _, _, err := s.stderr.waitFor(from, 10*time.Second, func(l string) bool { return strings.Contains(l, "permissions reloaded") }); err != nil {
		t.Fatalf("no reload logged: %v", err)
	}
	init = c.read(10 * time.Second)
	if init["event"] != "init" {
		t.Fatalf("after the reload = %v, want init", init)
	}
	jsonEqual(t, "init data after the reload", init["data"],
		`[{"id":1,"text":"mine","author":"`+me+`"},{"id":2,"text":"theirs","author":"bob"},{"id":3,"text":"theirs too","author":"bob"},{"id":4,"text":"mine too","author":"`+me+`"}]`)
	// Rules that do not check out leave the rules in use.
	from = rewrite(`{"reader": {"messages": {"fields": ["id", "nope"]}}}`)
	if _, _, err := s.stderr.waitFor(from, 10*time.Second, func(l string) bool {
		return strings.Contains(l, `no field \"nope\"`) && strings.Contains(l, "the rules in use stay")
	}); err != nil {
		t.Fatalf("no error logged for bad rules: %v", err)
	}
	storetest.Exec(t, u, `INSERT INTO messages (text, author) VALUES ('after', 'bob')`)
	expectEvent(t, c, "m", "create", `[{"id":5,"text":"after","author":"bob"}]`)
}

// TestServeJWKS runs `pgfeed serve --jwks-url` in strict mode against a key
// set served as an identity provider serves one: an RS256 token naming its
// key gets in and subscribes; an HS256 token does not.
func TestServeJWKS(t *testing.T) {
	t.Parallel()
	u := newMessagesDB(t)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	jwks := fmt.Sprintf(`{"keys":[{"kty":"RSA","kid":"k1","use":"sig","alg":"RS256","n":%q,"e":%q}]}`,
		b64(key.N.Bytes()), b64(big.NewInt(int64(key.E)).Bytes()))
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(jwks))
	}))
	defer idp.Close()
	s := startServer(t, u, "--auth-mode", "strict", "--jwks-url", idp.URL+"/.well-known/jwks.json")

	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"sub": "ann", "role": "member", "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = "k1"
	signed, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	if got := upgradeStatus(t, s.wsURL()+"?access_token="+signToken(t, "some-secret-0123456789abcdef"), nil); got != http.StatusUnauthorized {
		t.Errorf("HS256 token: upgrade status %d, want 401", got)
	}
	c := dial(t, s.wsURL()+"?access_token="+signed, nil)
	c.send(map[string]any{"type": "subscribe", "collection": "messages", "uid": "s"})
	if m := c.read(10 * time.Second); m["event"] != "init" {
		t.Fatalf("subscribe with an RS256 token = %v, want init", m)
	}
}
