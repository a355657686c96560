package ws

import (
	"github.com/pgfeed/pgfeed/cdc"
	"github.com/pgfeed/pgfeed/query"
)

// renderer turns one change into the messages each subscription gets. The
// rows of a change are decoded once (prepare), encoded once per distinct
// projection (project), and per subscription only matched and appended
// (deliver). It reuses its buffers: in steady state it allocates nothing.
// A renderer is used by one goroutine at a time.
type renderer struct {
	t  *query.Table
	ch *cdc.Change

	newRows, oldRows []query.Row
	newOK, oldOK     []bool
	tag              uint32 // ch's tag
	cursor           []byte // ch's cursor

	keys   []byte // keys of old rows, for deletes
	keyEnd []int
	keysOK bool

	proj       *query.Projection
	encN, encO []byte // projected rows
	endN, endO []int
	doneN      bool
	doneO      bool

	sel, leave []int32
	msg        []byte

	// Connections with frames queued but no writer woken yet; flush wakes
	// them, so that a batch of changes leaves in one write per connection.
	dirty []*conn
	sent  int64
}

// prepare decodes the rows of ch, a change to table t.
func (r *renderer) prepare(t *query.Table, ch *cdc.Change) {
	r.t, r.ch = t, ch
	r.newRows, r.newOK = decodeRows(t, ch.New, r.newRows, r.newOK)
	r.oldRows, r.oldOK = decodeRows(t, ch.Old, r.oldRows, r.oldOK)
	r.tag = ch.Tag()
	r.cursor = appendCursor(r.cursor[:0], ch.Pos, false, r.tag)
	r.keysOK = false
	r.proj = nil
}

func decodeRows(t *query.Table, raw [][]byte, rows []query.Row, ok []bool) ([]query.Row, []bool) {
	if cap(rows) < len(raw) {
		rows = append(rows[:cap(rows)], make([]query.Row, len(raw)-cap(rows))...)
	}
	if cap(ok) < len(raw) {
		ok = make([]bool, len(raw))
	}
	rows, ok = rows[:len(raw)], ok[:len(raw)]
	for i := range raw {
		ok[i] = rows[i].Reset(t, raw[i]) == nil
	}
	return rows, ok
}

// project selects the projection the next deliveries use.
func (r *renderer) project(p *query.Projection) {
	if r.proj != p {
		r.proj = p
		r.doneN, r.doneO = false, false
	}
}

func (r *renderer) encodedNew() {
	if !r.doneN {
		r.encN, r.endN = encodeRows(r.proj, r.newRows, r.encN[:0], r.endN[:0])
		r.doneN = true
	}
}

func (r *renderer) encodedOld() {
	if !r.doneO {
		r.encO, r.endO = encodeRows(r.proj, r.oldRows, r.encO[:0], r.endO[:0])
		r.doneO = true
	}
}

func encodeRows(p *query.Projection, rows []query.Row, enc []byte, end []int) ([]byte, []int) {
	for i := range rows {
		enc = p.Append(enc, &rows[i])
		end = append(end, len(enc))
	}
	return enc, end
}

func (r *renderer) encodedKeys() {
	if !r.keysOK {
		r.keys, r.keyEnd = r.keys[:0], r.keyEnd[:0]
		for i := range r.oldRows {
			r.keys = r.oldRows[i].AppendKey(r.keys)
			r.keyEnd = append(r.keyEnd, len(r.keys))
		}
		r.keysOK = true
	}
}

// deliver queues the messages sub gets for the prepared change, after
// project(sub.proj).
func (r *renderer) deliver(sub *subscription) {
	if r.ch.Pos <= sub.after || sub.c.paused.Load() {
		return
	}
	f := sub.filter
	switch r.ch.Op {
	case cdc.OpCreate:
		if sub.mask&evCreate == 0 {
			return
		}
		sel := r.matching(r.newRows, r.newOK, f)
		if len(sel) == 0 {
			return
		}
		r.encodedNew()
		m := appendHead(r.msg[:0], "create")
		m = appendSel(m, r.encN, r.endN, sel)
		r.send(sub, m, false)

	case cdc.OpUpdate:
		sel, leave := r.sel[:0], r.leave[:0]
		n := min(len(r.newRows), len(r.oldRows))
		for i := 0; i < n; i++ {
			nm := r.newOK[i] && f.Match(&r.newRows[i])
			switch {
			case nm:
				sel = append(sel, int32(i))
			case r.oldOK[i] && f.Match(&r.oldRows[i]):
				leave = append(leave, int32(i))
			}
		}
		r.sel, r.leave = sel, leave
		leaving := len(leave) > 0 && sub.mask&evDelete != 0
		if len(sel) > 0 && sub.mask&evUpdate != 0 && r.ch.Pos != sub.since.skipUpdate {
			r.encodedNew()
			m := appendHead(r.msg[:0], "update")
			m = appendSel(m, r.encN, r.endN, sel)
			m = r.appendOld(m, sub, sel)
			r.send(sub, m, leaving)
		}
		if leaving {
			r.sendDelete(sub, leave, true)
		}

	case cdc.OpDelete:
		if sub.mask&evDelete == 0 {
			return
		}
		if sel := r.matching(r.oldRows, r.oldOK, f); len(sel) > 0 {
			r.sendDelete(sub, sel, false)
		}
	}
}

// matching returns the indexes of the rows that decoded and match f, in
// the renderer's reused buffer.
func (r *renderer) matching(rows []query.Row, ok []bool, f *query.Filter) []int32 {
	sel := r.sel[:0]
	for i := range rows {
		if ok[i] && f.Match(&rows[i]) {
			sel = append(sel, int32(i))
		}
	}
	r.sel = sel
	return sel
}

// sendDelete sends sub a delete of the selected rows' keys (with their old
// values when it asked for them); leave marks rows that left its filter.
func (r *renderer) sendDelete(sub *subscription, sel []int32, leave bool) {
	r.encodedKeys()
	m := appendHead(r.msg[:0], "delete")
	m = appendSel(m, r.keys, r.keyEnd, sel)
	m = r.appendOld(m, sub, sel)
	if leave {
		m = append(m, `,"reason":"leave"`...)
	}
	r.send(sub, m, false)
}

// appendOld appends the selected rows' previous values when sub asked for
// them ("old":true). Where the role's permissions limit its rows, a row
// that was not among them before an update (it entered them) has null:
// its previous values were not the role's to read.
func (r *renderer) appendOld(m []byte, sub *subscription, sel []int32) []byte {
	if !sub.old {
		return m
	}
	r.encodedOld()
	m = append(m, `,"old":`...)
	if sub.perm == nil {
		return appendSel(m, r.encO, r.endO, sel)
	}
	m = append(m, '[')
	for j, i := range sel {
		if j > 0 {
			m = append(m, ',')
		}
		if r.oldOK[i] && sub.perm.Match(&r.oldRows[i]) {
			m = appendItem(m, r.encO, r.endO, i)
		} else {
			m = append(m, "null"...)
		}
	}
	return append(m, ']')
}

// send finishes m with the uid and the cursor and queues it; part marks
// the first of two messages of one change (see partCursor).
func (r *renderer) send(sub *subscription, m []byte, part bool) {
	m = appendUID(m, sub.uid)
	m = append(m, `,"cursor":"`...)
	if part {
		m = appendCursor(m, r.ch.Pos, true, r.tag)
	} else {
		m = append(m, r.cursor...)
	}
	m = append(m, '"', '}')
	r.msg = m
	ok, kick := sub.c.enqueue(opText, m, true)
	if ok {
		r.sent++
	}
	if kick {
		r.dirty = append(r.dirty, sub.c)
	}
}

// flush wakes the writers of every connection deliver queued frames for.
func (r *renderer) flush(s *Server) {
	for i, c := range r.dirty {
		c.kick()
		r.dirty[i] = nil
	}
	r.dirty = r.dirty[:0]
	s.stats.delivered.Add(r.sent)
	r.sent = 0
}

func appendHead(m []byte, event string) []byte {
	m = append(m, `{"type":"subscription","event":"`...)
	m = append(m, event...)
	return append(m, `","data":`...)
}

// appendSel appends a JSON array of the selected items of enc (item i ends
// at end[i]).
func appendSel(m, enc []byte, end []int, sel []int32) []byte {
	m = append(m, '[')
	for j, i := range sel {
		if j > 0 {
			m = append(m, ',')
		}
		m = appendItem(m, enc, end, i)
	}
	return append(m, ']')
}

// appendItem appends item i of enc (item i ends at end[i]).
func appendItem(m, enc []byte, end []int, i int32) []byte {
	start := 0
	if i > 0 {
		start = end[i-1]
	}
	return append(m, enc[start:end[i]]...)
}
