package ws

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/pgfeed/pgfeed/query"
)

// Permissions says what each role may read: which collections, which of
// their fields, and which of their rows. A connection's role is its
// token's "role" claim; a connection without a token, or whose token
// names no role, has PublicRole. A role that is not listed reads nothing.
// A nil *Permissions lets every role read every tracked collection whole.
//
// The rules are written in JSON, by role and then by collection:
//
//	{
//	  "public": {"messages": {"fields": ["id", "text"], "filter": {"status": {"_eq": "published"}}}},
//	  "member": {"messages": {"filter": {"author": {"_eq": "$CURRENT_USER"}}}},
//	  "admin":  {"*": {}}
//	}
//
// "fields" is an array of field names, or "*" (the default) for every
// field; the primary key is always readable. "filter" is a filter in the
// subscription filter language, $CURRENT_USER being the token's subject; a
// row is readable when it matches. The collection "*" stands for every
// collection without a rule of its own, and takes neither fields nor a
// filter.
type Permissions struct {
	roles map[string]map[string]*Rule
}

// Rule is what a role may read of a collection.
type Rule struct {
	fields []string        // nil: every field
	filter json.RawMessage // nil: every row
}

// PublicRole is the role of a connection that has no token, or whose token
// names no role.
const PublicRole = "public"

// anyCollection is the collection name of a rule for every collection.
const anyCollection = "*"

// ParsePermissions reads permissions in the JSON form Permissions
// describes.
func ParsePermissions(data []byte) (*Permissions, error) {
	var raw map[string]map[string]json.RawMessage
	if err := strictJSON(data, &raw); err != nil {
		return nil, fmt.Errorf("permissions: want an object of roles, each an object of collections: %w", err)
	}
	if raw == nil {
		return nil, errors.New("permissions: want an object of roles, each an object of collections, not null")
	}
	p := &Permissions{roles: make(map[string]map[string]*Rule, len(raw))}
	for role, colls := range raw {
		if role == "" {
			return nil, errors.New("permissions: a role name is empty")
		}
		rules := make(map[string]*Rule, len(colls))
		for coll, rr := range colls {
			r, err := parseRule(coll, rr)
			if err != nil {
				return nil, fmt.Errorf("permissions: role %q, collection %q: %w", role, coll, err)
			}
			rules[coll] = r
		}
		p.roles[role] = rules
	}
	return p, nil
}

func parseRule(coll string, data json.RawMessage) (*Rule, error) {
	var rr struct {
		Fields json.RawMessage `json:"fields"`
		Filter json.RawMessage `json:"filter"`
	}
	if err := strictJSON(data, &rr); err != nil {
		return nil, fmt.Errorf(`want an object with "fields" and "filter", both optional: %w`, err)
	}
	r := &Rule{}
	if present(rr.Fields) {
		var all string
		if err := json.Unmarshal(rr.Fields, &all); err == nil {
			if all != "*" {
				return nil, errors.New(`fields must be "*" or an array of field names`)
			}
		} else if err := json.Unmarshal(rr.Fields, &r.fields); err != nil || r.fields == nil {
			return nil, errors.New(`fields must be "*" or an array of field names`)
		}
	}
	if present(rr.Filter) {
		if firstByte(rr.Filter) != '{' {
			return nil, errors.New("filter must be an object")
		}
		r.filter = rr.Filter
	}
	if coll == anyCollection && (r.fields != nil || r.filter != nil) {
		return nil, errors.New(`the rule for every collection takes no fields and no filter; give those in a rule of the collection's own`)
	}
	return r, nil
}

// strictJSON decodes data into v, refusing unknown object keys and
// anything after the value.
func strictJSON(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("unexpected data after the object")
	}
	return nil
}

// Check checks every rule of a tracked collection against its table: the
// fields must exist and the filter must be valid. It returns the
// collections that rules name but that are not tracked (their rules apply
// once they are).
func (p *Permissions) Check(tables []query.Table, lim query.Limits) (untracked []string, err error) {
	if p == nil {
		return nil, nil
	}
	named := byName(tables)
	var errs []error
	for _, role := range slices.Sorted(maps.Keys(p.roles)) {
		rules := p.roles[role]
		for _, coll := range slices.Sorted(maps.Keys(rules)) {
			if coll == anyCollection {
				continue
			}
			t := named[coll]
			if t == nil {
				if !slices.Contains(untracked, coll) {
					untracked = append(untracked, coll)
				}
				continue
			}
			if pn := publicName(t.Collection); coll == pn && rules[t.Collection] != nil {
				errs = append(errs, fmt.Errorf("permissions: role %q has rules for both %q and %q, one collection", role, t.Collection, pn))
			}
			r := rules[coll]
			for _, f := range r.fields {
				if _, ok := t.Column(f); !ok {
					errs = append(errs, fmt.Errorf("permissions: role %q, collection %q: no field %q", role, coll, f))
				}
			}
			if _, err := r.rowFilter(t, query.Env{CurrentUser: "user", CurrentRole: "role", Now: time.Now()}, lim); err != nil {
				errs = append(errs, fmt.Errorf("permissions: role %q, collection %q: filter: %v", role, coll, err))
			}
		}
	}
	sort.Strings(untracked)
	return untracked, errors.Join(errs...)
}

// roleName is the role whose rules apply to a connection with the token
// role claim.
func roleName(claim string) string {
	if claim == "" {
		return PublicRole
	}
	return claim
}

// rule returns what role may read of the collection coll; ok is false when
// it may read none of it. With no permissions, every role reads everything
// (a nil rule). A rule may name a collection of the public schema as
// clients may, "public.x" for x.
func (p *Permissions) rule(role, coll string) (r *Rule, ok bool) {
	if p == nil {
		return nil, true
	}
	rules := p.roles[roleName(role)]
	if r, ok := rules[coll]; ok {
		return r, true
	}
	if r, ok := rules[publicName(coll)]; ok {
		return r, true
	}
	r, ok = rules[anyCollection]
	return r, ok
}

// readsAny reports whether role may read every collection, so that a
// collection that does not exist may be said not to exist.
func (p *Permissions) readsAny(role string) bool {
	if p == nil {
		return true
	}
	_, ok := p.roles[roleName(role)][anyCollection]
	return ok
}

// readable reports whether the rule lets the field be read.
func (r *Rule) readable(t *query.Table, field string) bool {
	return r == nil || r.fields == nil || slices.Contains(r.fields, field) || slices.Contains(t.Key, field)
}

// rowFilter is the rule's filter over t, nil when every row is readable.
func (r *Rule) rowFilter(t *query.Table, env query.Env, lim query.Limits) (*query.Filter, error) {
	if r == nil || r.filter == nil {
		return nil, nil
	}
	return query.ParseFilter(t, r.filter, env, lim)
}

// apply narrows spec, a subscription query parsed for t, to what the rule
// lets role read: "*" or no fields becomes the readable fields, and the
// rows are those that also match the rule's filter, which it returns (nil
// when every row is readable). A query that names a field the role may not
// read, to project, filter or sort on, is refused, with the same answer as
// a field that does not exist.
func (r *Rule) apply(t *query.Table, spec *query.Spec, role string, env query.Env, lim query.Limits) (*query.Filter, error) {
	if r == nil {
		return nil, nil
	}
	if r.fields != nil {
		named := spec.Projection.Fields()
		if spec.AllFields {
			named = nil
		}
		named = append(named, spec.Sort...)
		named = append(named, spec.Filter.Fields()...)
		for _, f := range named {
			if !r.readable(t, f) {
				return nil, errForbiddenField(role, t.Collection, f)
			}
		}
		if spec.AllFields {
			p, err := query.NewProjection(t, r.readableFields(t))
			if err != nil {
				return nil, err
			}
			spec.Projection = p
		}
	}
	rf, err := r.rowFilter(t, env, lim)
	if err != nil {
		// The table changed since the rules were checked.
		return nil, fmt.Errorf("permissions of role %q for collection %q: filter: %v", roleName(role), t.Collection, err)
	}
	spec.Filter = query.And(spec.Filter, rf)
	return rf, nil
}

// readableFields lists the fields of t the rule lets be read that t has.
func (r *Rule) readableFields(t *query.Table) []string {
	var out []string
	for _, c := range t.Columns {
		if r.readable(t, c.Name) {
			out = append(out, c.Name)
		}
	}
	return out
}

func errForbiddenCollection(role, coll string) *protoError {
	return newError(codeForbidden, "role %q may not read collection %q, or it does not exist",
		roleName(role), truncate(coll, 64))
}

func errForbiddenField(role, coll, field string) *protoError {
	return newError(codeForbidden, "role %q may not read field %q of collection %q, or it does not exist",
		roleName(role), truncate(strings.TrimSpace(field), 64), coll)
}

// SetPermissions replaces the permissions (nil: every role reads every
// collection whole). The subscriptions of each role whose rules changed
// start over under the new ones, as after a change of identity (see
// renewLocked): each gets a fresh init, or FORBIDDEN when its role may no
// longer read what it asked for. Those of other roles go on untouched.
func (s *Server) SetPermissions(p *Permissions) {
	old := s.perms.Swap(p)
	changed := func(sub *subscription) bool { return !old.sameRules(p, sub.role) }
	s.poller.each(func(c *conn) {
		c.mu.Lock()
		stale, fresh := c.renewLocked(changed)
		c.mu.Unlock()
		c.restart(stale, fresh)
	})
}

// sameRules reports whether p and q give role the same rules.
func (p *Permissions) sameRules(q *Permissions, role string) bool {
	if p == nil || q == nil {
		return p == q
	}
	a, b := p.roles[roleName(role)], q.roles[roleName(role)]
	if len(a) != len(b) {
		return false
	}
	for coll, ra := range a {
		rb, ok := b[coll]
		if !ok || !slices.Equal(ra.fields, rb.fields) || (ra.fields == nil) != (rb.fields == nil) || !bytes.Equal(ra.filter, rb.filter) {
			return false
		}
	}
	return true
}
