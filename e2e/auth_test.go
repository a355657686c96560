package e2e

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/gobwas/ws"
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
