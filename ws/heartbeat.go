package ws

import "time"

var pingMessage = []byte(`{"type":"ping"}`)

// heartbeat pings every connection each period and closes those that sent
// nothing since the previous ping.
func (s *Server) heartbeat() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now().UnixNano()
		s.poller.each(func(c *conn) {
			if p := c.pingedAt.Load(); p != 0 && c.lastSeen.Load() < p {
				c.closeWith(closeNormal, "no message within the heartbeat period")
				return
			}
			c.pingedAt.Store(now)
			c.send(pingMessage)
		})
	}
}
