package ws

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/pgfeed/pgfeed/query"
)

// catalog caches the tracked tables. A miss reloads it (at most once per
// reloadEvery, to bound the database work unknown names can cause), so a table tracked after the server started can be
// subscribed to.
type catalog struct {
	b Backend

	mu     sync.Mutex
	tables map[string]*query.Table // by collection name, and "public.x" for x
	loaded time.Time
}

const reloadEvery = 250 * time.Millisecond

func newCatalog(b Backend) *catalog { return &catalog{b: b} }

// lookup returns the table named name (a collection name; "public.x" also
// names x).
func (c *catalog) lookup(ctx context.Context, name string) (*query.Table, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.tables[name]; t != nil {
		return t, nil
	}
	if err := c.reloadLocked(ctx, false); err != nil {
		return nil, err
	}
	if t := c.tables[name]; t != nil {
		return t, nil
	}
	return nil, errInvalidCollection(truncate(name, 64))
}

// refresh reloads the catalog (unless it was just loaded) and returns the
// table named name.
func (c *catalog) refresh(ctx context.Context, name string) (*query.Table, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.reloadLocked(ctx, false); err != nil {
		return nil, err
	}
	return c.tables[name], nil
}

func (c *catalog) reloadLocked(ctx context.Context, force bool) error {
	if !force && c.tables != nil && time.Since(c.loaded) < reloadEvery {
		return nil
	}
	list, err := c.b.Tables(ctx)
	if err != nil {
		return fmt.Errorf("load catalog: %w", err)
	}
	c.tables = byName(list)
	c.loaded = time.Now()
	return nil
}

// byName indexes tables by the names clients may give them: the
// collection, and "public.x" for a collection x of the public schema.
func byName(list []query.Table) map[string]*query.Table {
	tables := make(map[string]*query.Table, 2*len(list))
	for i := range list {
		t := &list[i]
		tables[t.Collection] = t
		if pn := publicName(t.Collection); pn != "" {
			tables[pn] = t
		}
	}
	return tables
}

// publicName is the other name of a collection of the public schema,
// "public.x" for x; "" for other collections.
func publicName(coll string) string {
	if strings.Contains(coll, ".") {
		return ""
	}
	return "public." + coll
}

// forget drops a collection that stopped being tracked.
func (c *catalog) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.tables, name)
	delete(c.tables, publicName(name))
	c.loaded = time.Time{}
}
