package ws

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/pgfeed/pgfeed/cdc"
	"github.com/pgfeed/pgfeed/query"
)

// subscribeTimeout bounds the work of starting one subscription: catalog,
// snapshot and replay.
const subscribeTimeout = 30 * time.Second

// readyTimeout is how long a subscribe waits for the change stream to start.
const readyTimeout = 5 * time.Second

// startSubscription starts sub in a goroutine of its own: it may read the
// database, and the connection keeps being served meanwhile.
func (s *Server) startSubscription(sub *subscription) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(s.ctx, subscribeTimeout)
		defer cancel()
		if err := s.subscribe(ctx, sub); err != nil {
			if sub.cancelled.Load() && !isDrop(err) {
				return
			}
			code, _ := wireError(err)
			if code == codeInternal {
				s.log.Error().Err(err).Str("collection", sub.name).Msg("subscribe")
			}
			sub.c.replyError("subscribe", err, sub.uid)
			sub.c.dropSubscription(sub)
		}
	}()
}

func isDrop(err error) bool {
	var pe *protoError
	return errors.As(err, &pe) && pe.code == codeInvalidCollection
}

// subscribe compiles sub, registers it with the hub, sends init (with the
// snapshot, or after a replay from the client's cursor), delivers what the
// hub buffered meanwhile, and makes it live.
func (s *Server) subscribe(ctx context.Context, sub *subscription) error {
	t, spec, perm, err := s.compile(ctx, sub)
	if err != nil {
		return err
	}
	filter := spec.Filter
	if sub.item != nil {
		kf, err := query.KeyFilter(t, sub.item)
		if err != nil {
			return err
		}
		filter = query.And(filter, kf)
	}
	sub.coll, sub.table, sub.proj, sub.filter, sub.perm = t.Collection, t, spec.Projection, filter, perm

	wctx, cancel := context.WithTimeout(ctx, readyTimeout)
	err = s.hub.waitReady(wctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return newError(codeServiceUnavailable, "the change stream is not ready yet; try again shortly")
	}
	h0, ok := s.hub.addPending(sub)
	if !ok {
		return nil
	}
	r := &renderer{}
	var last int64
	switch {
	case sub.since.after >= 0:
		ok, err := s.backend.Resumable(ctx, sub.since.after, sub.since.marked())
		if err != nil {
			return err
		}
		if !ok {
			recovered := false
			if last, err = s.initial(ctx, sub, spec, h0, &recovered); err != nil {
				return err
			}
			break
		}
		s.sendInit(sub, nil, sub.since.String(), true, true)
		if last, err = s.replay(ctx, sub, r, sub.since.after, h0.Pos); err != nil {
			return err
		}
	default:
		if last, err = s.initial(ctx, sub, spec, h0, nil); err != nil {
			return err
		}
	}
	return s.hub.catchUp(sub, r, last)
}

// compile finds the collection and parses the query. An unknown collection
// or field may mean the catalog is stale: it is reloaded once.
//
// The role's permissions decide what it may read (see Permissions): the
// spec's projection and filter are narrowed to it, and perm is the role's
// row filter (already part of the spec's filter), nil when it reads every
// row. A collection or field it may not read gets the same answer whether
// or not it exists, so that names a role cannot read stay hidden from it.
func (s *Server) compile(ctx context.Context, sub *subscription) (t *query.Table, spec *query.Spec, perm *query.Filter, err error) {
	perms := s.perms.Load()
	t, err = s.catalog.lookup(ctx, sub.name)
	if err != nil {
		if isDrop(err) && !perms.readsAny(sub.role) {
			return nil, nil, nil, errForbiddenCollection(sub.role, sub.name)
		}
		return nil, nil, nil, err
	}
	rule, ok := perms.rule(sub.role, t.Collection)
	if !ok {
		return nil, nil, nil, errForbiddenCollection(sub.role, sub.name)
	}
	env := query.Env{CurrentUser: sub.user, CurrentRole: sub.role, Now: time.Now()}
	spec, err = query.Parse(t, sub.query, env, s.cfg.Limits)
	var qe *query.Error
	if errors.As(err, &qe) {
		if nt, rerr := s.catalog.refresh(ctx, sub.name); rerr == nil && nt != nil && nt != t {
			t = nt
			spec, err = query.Parse(t, sub.query, env, s.cfg.Limits)
		}
	}
	if errors.As(err, &qe) && qe.Field != "" && !rule.readable(t, qe.Field) {
		return nil, nil, nil, errForbiddenField(sub.role, t.Collection, qe.Field)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	if perm, err = rule.apply(t, spec, sub.role, env, s.cfg.Limits); err != nil {
		return nil, nil, nil, err
	}
	// A search looks only in the fields the role may read, as Directus's
	// does: a match in another would tell what it holds.
	search := query.SearchFilter(t, spec.Search, func(field string) bool { return rule.readable(t, field) })
	spec.Filter = query.And(spec.Filter, search)
	return t, spec, perm, nil
}

// initial sends init: with a snapshot when the subscription takes every
// event, else without data at the hub's position. It returns the position
// the stream continues after.
func (s *Server) initial(ctx context.Context, sub *subscription, spec *query.Spec, h0 cdc.Mark, recovered *bool) (int64, error) {
	if sub.mask != evAll {
		s.sendInit(sub, nil, markCursor(h0), recovered != nil, recovered != nil && *recovered)
		return h0.Pos, nil
	}
	select {
	case s.snaps <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	where, args := sub.filter.SQL(nil)
	orderBy := spec.OrderBy
	if orderBy == "" {
		orderBy = keyOrder(sub.table)
	}
	rows, at, err := s.backend.Snapshot(ctx, sub.table, where, args, orderBy, spec.Limit, spec.Offset)
	<-s.snaps
	if err != nil {
		return 0, err
	}
	var data []byte
	data = append(data, '[')
	var row query.Row
	n := 0
	for _, raw := range rows {
		if err := row.Reset(sub.table, raw); err != nil {
			continue
		}
		if n > 0 {
			data = append(data, ',')
		}
		data = sub.proj.Append(data, &row)
		n++
	}
	data = append(data, ']')
	s.sendInit(sub, data, markCursor(at), recovered != nil, recovered != nil && *recovered)
	return at.Pos, nil
}

// sendInit sends {"type":"subscription","event":"init","data":..,"uid":..,
// "cursor":..,"recovered":..}; data and recovered only when given.
func (s *Server) sendInit(sub *subscription, data []byte, cursor string, withRecovered, recovered bool) {
	if sub.cancelled.Load() {
		return
	}
	m := make([]byte, 0, 96+len(data)+len(sub.uid))
	m = append(m, `{"type":"subscription","event":"init"`...)
	if data != nil {
		m = append(m, `,"data":`...)
		m = append(m, data...)
	}
	m = appendUID(m, sub.uid)
	m = append(m, `,"cursor":"`...)
	m = append(m, cursor...)
	m = append(m, '"')
	if withRecovered {
		m = append(m, `,"recovered":`...)
		m = strconv.AppendBool(m, recovered)
	}
	sub.c.send(append(m, '}'))
}

// replay delivers the journal's changes after since, up to the hub position
// h0 (later ones are in the subscription's buffer).
func (s *Server) replay(ctx context.Context, sub *subscription, r *renderer, since, h0 int64) (int64, error) {
	last := since
	for last < h0 {
		batch, err := s.backend.ReadAfter(ctx, last, 100)
		if err != nil {
			return 0, err
		}
		if len(batch) == 0 {
			break
		}
		for i := range batch {
			ch := &batch[i]
			if ch.Pos > h0 {
				r.flush(s)
				return h0, nil
			}
			if err := deliverOne(r, sub, ch); err != nil {
				r.flush(s)
				return 0, err
			}
			last = ch.Pos
		}
		r.flush(s)
	}
	return max(last, h0), nil
}

// keyOrder is the default snapshot order: the primary key.
func keyOrder(t *query.Table) string {
	parts := make([]string, len(t.Key))
	for i, k := range t.Key {
		parts[i] = `t."` + strings.ReplaceAll(k, `"`, `""`) + `"`
	}
	return strings.Join(parts, ", ")
}

// dropped tells a subscription whose collection went away and removes it.
func (s *Server) dropped(sub *subscription) {
	s.catalog.forget(sub.coll)
	sub.c.replyError("subscribe", errDropped(sub.coll), sub.uid)
	sub.c.dropSubscription(sub)
}
