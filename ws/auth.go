package ws

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// tokenClaims is what pgfeed reads from an access token.
type tokenClaims struct {
	subject string // $CURRENT_USER in filters
	role    string
	expires time.Time // zero: never
}

var errTokenExpired = errors.New("token expired")

// verifyToken checks an access token: signed with HS256 and the secret, or
// with a public-key method and a key of the key set. The subject is "sub",
// or "id" as Directus issues it.
func (s *Server) verifyToken(raw string) (*tokenClaims, error) {
	if len(s.methods) == 0 {
		return nil, errors.New("no JWT secret or public key configured")
	}
	tok, err := jwt.Parse(raw, s.tokenKey, jwt.WithValidMethods(s.methods))
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return nil, errTokenExpired
		}
		return nil, fmt.Errorf("verify token: %w", err)
	}
	mc, ok := tok.Claims.(jwt.MapClaims)
	if !ok {
		return nil, errors.New("verify token: unexpected claims")
	}
	cl := &tokenClaims{}
	if sub, ok := mc["sub"].(string); ok {
		cl.subject = sub
	} else if id, ok := mc["id"].(string); ok {
		cl.subject = id
	}
	cl.role, _ = mc["role"].(string)
	if exp, err := mc.GetExpirationTime(); err == nil && exp != nil {
		cl.expires = exp.Time
	}
	return cl, nil
}

// publicKeyMethods are the token signing methods a KeySet verifies.
var publicKeyMethods = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// tokenMethods lists the signing methods cfg has keys for. A method is
// checked only with its kind of key, so that a token cannot pass off a
// public key as an HS256 secret.
func tokenMethods(cfg *Config) []string {
	var m []string
	if len(cfg.JWTSecret) > 0 {
		m = append(m, "HS256")
	}
	if cfg.JWTKeys != nil {
		m = append(m, publicKeyMethods...)
	}
	return m
}

// tokenKey finds what verifies tok: the secret for HS256, the key set for
// the others (jwt.WithValidMethods admits no other method).
func (s *Server) tokenKey(tok *jwt.Token) (any, error) {
	if _, ok := tok.Method.(*jwt.SigningMethodHMAC); ok {
		return s.cfg.JWTSecret, nil
	}
	kid, _ := tok.Header["kid"].(string)
	return s.cfg.JWTKeys.key(s.ctx, kid)
}

// start sets up a new connection's authentication: a token from the
// upgrade authenticates it; in handshake mode an unauthenticated connection
// must send auth within the auth timeout.
func (c *conn) start(claims *tokenClaims) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if claims != nil {
		c.setAuthLocked(claims) // a new connection has no subscriptions to renew
		return
	}
	if c.s.cfg.AuthMode != AuthPublic {
		c.authTimer = time.AfterFunc(c.s.cfg.AuthTimeout, c.authTimedOut)
	}
}

// authenticated reports whether the connection may use subscriptions.
func (c *conn) authenticated() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.authed || c.s.cfg.AuthMode == AuthPublic
}

// setAuthLocked authenticates the connection with cl. It returns the
// subscriptions made under another identity and their replacements, which
// the caller restarts once it has released mu.
func (c *conn) setAuthLocked(cl *tokenClaims) (old, fresh []*subscription) {
	c.authed = true
	c.user, c.role = cl.subject, cl.role
	if c.authTimer != nil {
		c.authTimer.Stop()
		c.authTimer = nil
	}
	if c.expTimer != nil {
		c.expTimer.Stop()
		c.expTimer = nil
	}
	if !cl.expires.IsZero() {
		c.expTimer = time.AfterFunc(time.Until(cl.expires), c.tokenExpired)
	}
	c.paused.Store(false)
	return c.renewLocked(c.otherIdentity)
}

// otherIdentity reports whether sub was made under an identity (subject or
// role) other than the connection's current one. Under mu.
func (c *conn) otherIdentity(sub *subscription) bool {
	return sub.user != c.user || sub.role != c.role
}

// renewLocked replaces every subscription that stale reports with a new
// one under the connection's current identity, made as if the client had
// sent the same subscribe again, so that it starts over with a fresh init:
// what a subscription may read, and $CURRENT_USER in its filter, were
// decided when it was made, by the identity and the permissions of then.
// It returns the replaced subscriptions and their replacements.
func (c *conn) renewLocked(stale func(*subscription) bool) (old, fresh []*subscription) {
	for key, sub := range c.subs {
		if !stale(sub) {
			continue
		}
		ns := &subscription{c: c, uid: sub.uid, key: sub.key, name: sub.name, mask: sub.mask, old: sub.old,
			since: cursor{after: -1}, query: sub.query, item: sub.item, user: c.user, role: c.role}
		c.subs[key] = ns
		old, fresh = append(old, sub), append(fresh, ns)
	}
	return old, fresh
}

// restart stops the subscriptions old and starts their replacements fresh.
func (c *conn) restart(old, fresh []*subscription) {
	for i := range old {
		c.s.hub.remove(old[i])
		c.s.startSubscription(fresh[i])
	}
}

func (c *conn) authTimedOut() {
	c.mu.Lock()
	if c.authed || c.closing {
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.replyError("auth", newError(codeAuthTimeout, "no valid auth message within %s", c.s.cfg.AuthTimeout), nil)
	c.closeWith(closePolicy, "authentication timed out")
}

// tokenExpired pauses the subscriptions until a fresh auth arrives within
// the auth timeout; in public mode the connection falls back to the public
// role instead, and the subscriptions made under the token start over
// under it (see renewLocked).
func (c *conn) tokenExpired() {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.expTimer = nil
	c.authed = false
	c.user, c.role = "", ""
	var old, fresh []*subscription
	if c.s.cfg.AuthMode != AuthPublic {
		c.paused.Store(true)
		c.authTimer = time.AfterFunc(c.s.cfg.AuthTimeout, c.authTimedOut)
	} else {
		old, fresh = c.renewLocked(c.otherIdentity)
	}
	c.mu.Unlock()
	c.replyError("auth", newError(codeTokenExpired, "the access token expired; send a fresh auth message"), nil)
	c.restart(old, fresh)
}

// handleAuth answers {"type":"auth",...}.
func (c *conn) handleAuth(m *inbound) {
	token, isString := jsonString(m.AccessToken)
	switch {
	case !isString && (present(m.Email) || present(m.Password) || present(m.RefreshToken)):
		c.replyError("auth", newError(codeAuthFailed, "only access_token authentication is supported"), m.UID)
		return
	case !isString || token == "":
		c.replyError("auth", newError(codeAuthFailed, "access_token is required and must be a string"), m.UID)
		return
	}
	cl, err := c.s.verifyToken(token)
	switch {
	case errors.Is(err, errTokenExpired):
		c.replyError("auth", newError(codeTokenExpired, "the access token has expired"), m.UID)
		return
	case err != nil:
		c.replyError("auth", newError(codeAuthFailed, "the access token is not valid"), m.UID)
		return
	}
	c.mu.Lock()
	old, fresh := c.setAuthLocked(cl)
	c.mu.Unlock()
	b := append(make([]byte, 0, 64), `{"type":"auth","status":"ok"`...)
	b = appendUID(b, m.UID)
	c.send(append(b, '}'))
	c.restart(old, fresh)
}
