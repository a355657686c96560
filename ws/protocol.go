package ws

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// inbound is any client message. Fields stay raw so that a wrong type gets
// a precise INVALID_PAYLOAD instead of a generic decoding error.
type inbound struct {
	Type         json.RawMessage `json:"type"`
	UID          json.RawMessage `json:"uid"`
	Collection   json.RawMessage `json:"collection"`
	Event        json.RawMessage `json:"event"`
	Item         json.RawMessage `json:"item"`
	Query        json.RawMessage `json:"query"`
	Since        json.RawMessage `json:"since"`
	Old          json.RawMessage `json:"old"`
	AccessToken  json.RawMessage `json:"access_token"`
	Email        json.RawMessage `json:"email"`
	Password     json.RawMessage `json:"password"`
	RefreshToken json.RawMessage `json:"refresh_token"`
}

// message handles one complete data message from the client.
func (c *conn) message(op byte, payload []byte) {
	c.seen()
	if !c.allow() {
		c.replyError("server", newError(codeRequestsExceeded, "more than %d messages per second; slow down", c.s.cfg.RatePerSec), nil)
		return
	}
	if op == opBinary {
		c.replyError("server", errInvalidPayload("binary frames are not supported; send JSON text frames"), nil)
		return
	}
	if firstByte(payload) != '{' {
		if json.Valid(payload) {
			c.replyError("server", errInvalidPayload("a message must be a JSON object with a \"type\""), nil)
		} else {
			c.replyError("server", errInvalidPayload("the message is not valid JSON"), nil)
		}
		return
	}
	var m inbound
	if err := json.Unmarshal(payload, &m); err != nil {
		c.replyError("server", errInvalidPayload("the message is not valid JSON"), nil)
		return
	}
	typ, ok := jsonString(m.Type)
	if !ok {
		c.replyError("server", errInvalidPayload("a message must have a string \"type\""), nil)
		return
	}
	if present(m.UID) {
		if f := firstByte(m.UID); f != '"' && f != '-' && (f < '0' || f > '9') {
			c.replyError(typ, errInvalidPayload("uid must be a string or a number"), nil)
			return
		}
	} else {
		m.UID = nil
	}
	switch typ {
	case "ping":
		b := append(make([]byte, 0, 32), `{"type":"pong"`...)
		b = appendUID(b, m.UID)
		c.send(append(b, '}'))
		return
	case "pong":
		return
	case "auth":
		c.handleAuth(&m)
		return
	}
	if !c.authenticated() {
		c.replyError(typ, newError(codeAuthFailed, "authenticate first: send {\"type\":\"auth\",\"access_token\":\"...\"}"), m.UID)
		return
	}
	switch typ {
	case "subscribe":
		c.handleSubscribe(&m)
	case "unsubscribe":
		c.handleUnsubscribe(&m)
	default:
		c.replyError(typ, errInvalidPayload("unknown message type %q; expected auth, subscribe, unsubscribe, ping or pong", truncate(typ, 40)), m.UID)
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// replyError sends {"type":context,"status":"error","error":{...},"uid":uid}.
func (c *conn) replyError(context string, err error, uid json.RawMessage) {
	code, msg := wireError(err)
	c.s.stats.errors[codeIndex(code)].Add(1)
	b := make([]byte, 0, 96+len(msg)+len(uid))
	b = append(b, `{"type":`...)
	b = appendJSONString(b, context)
	b = append(b, `,"status":"error","error":{"code":"`...)
	b = append(b, code...)
	b = append(b, `","message":`...)
	b = appendJSONString(b, msg)
	b = append(b, '}')
	b = appendUID(b, uid)
	c.send(append(b, '}'))
}

func appendUID(dst []byte, uid []byte) []byte {
	if uid == nil {
		return dst
	}
	dst = append(dst, `,"uid":`...)
	return append(dst, uid...)
}

// uidKey names a subscription within its connection: uids "1" and 1 are the
// same subscription, as in Directus.
func uidKey(uid json.RawMessage) string {
	if s, ok := jsonString(uid); ok {
		return s
	}
	return string(bytes.TrimSpace(uid))
}

// Event masks.
const (
	evCreate = 1 << iota
	evUpdate
	evDelete
	evAll = evCreate | evUpdate | evDelete
)

// handleSubscribe validates a subscribe message, registers the subscription
// on the connection (replacing one with the same uid) and starts it.
func (c *conn) handleSubscribe(m *inbound) {
	name, ok := jsonString(m.Collection)
	if !ok || name == "" {
		c.replyError("subscribe", errInvalidPayload("collection is required and must be a string"), m.UID)
		return
	}
	mask := evAll
	if present(m.Event) {
		ev, _ := jsonString(m.Event)
		switch ev {
		case "create":
			mask = evCreate
		case "update":
			mask = evUpdate
		case "delete":
			mask = evDelete
		default:
			c.replyError("subscribe", errInvalidPayload("event must be create, update or delete"), m.UID)
			return
		}
	}
	var old bool
	if present(m.Old) {
		if err := json.Unmarshal(m.Old, &old); err != nil {
			c.replyError("subscribe", errInvalidPayload("old must be true or false"), m.UID)
			return
		}
	}
	since := cursor{after: -1}
	if present(m.Since) {
		s, ok := jsonString(m.Since)
		if !ok {
			s = string(m.Since)
		}
		var err error
		if since, err = parseCursor(s); err != nil {
			c.replyError("subscribe", errInvalidPayload("since must be a cursor from an earlier event"), m.UID)
			return
		}
	}
	if present(m.Query) {
		if f := firstByte(m.Query); f != '{' && f != '"' {
			c.replyError("subscribe", newError(codeInvalidQuery, "query must be an object"), m.UID)
			return
		}
	} else {
		m.Query = nil
	}
	if !present(m.Item) {
		m.Item = nil
	}
	sub := &subscription{
		c:     c,
		uid:   m.UID,
		name:  name,
		mask:  uint8(mask),
		old:   old,
		since: since,
		query: m.Query,
		item:  m.Item,
	}
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	if m.UID != nil {
		sub.key = uidKey(m.UID)
	} else {
		c.anon++
		sub.key = "\x00" + strconv.Itoa(c.anon)
	}
	prev := c.subs[sub.key]
	if prev == nil && len(c.subs) >= c.s.cfg.MaxSubsPerConn {
		c.mu.Unlock()
		c.replyError("subscribe", newError(codeLimitExceeded, "at most %d subscriptions per connection", c.s.cfg.MaxSubsPerConn), m.UID)
		return
	}
	c.subs[sub.key] = sub
	sub.user, sub.role = c.user, c.role
	c.mu.Unlock()
	if prev != nil {
		c.s.hub.remove(prev)
	}
	c.s.startSubscription(sub)
}

// handleUnsubscribe removes one subscription (by uid) or all of them.
func (c *conn) handleUnsubscribe(m *inbound) {
	c.mu.Lock()
	var gone []*subscription
	if m.UID != nil {
		if sub := c.subs[uidKey(m.UID)]; sub != nil {
			gone = append(gone, sub)
			delete(c.subs, sub.key)
		}
	} else {
		for k, sub := range c.subs {
			gone = append(gone, sub)
			delete(c.subs, k)
		}
	}
	c.mu.Unlock()
	if m.UID != nil && len(gone) == 0 {
		c.replyError("unsubscribe", errInvalidPayload("no subscription with this uid"), m.UID)
		return
	}
	for _, sub := range gone {
		c.s.hub.remove(sub)
	}
	b := append(make([]byte, 0, 64), `{"type":"subscription","event":"unsubscribe"`...)
	b = appendUID(b, m.UID)
	c.send(append(b, '}'))
}

// dropSubscription removes sub from its connection if it is still there.
func (c *conn) dropSubscription(sub *subscription) {
	c.mu.Lock()
	if c.subs != nil && c.subs[sub.key] == sub {
		delete(c.subs, sub.key)
	}
	c.mu.Unlock()
	c.s.hub.remove(sub)
}
