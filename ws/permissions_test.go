package ws

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pgfeed/pgfeed/query"
)

func TestParsePermissionsErrors(t *testing.T) {
	tests := []struct {
		desc, in, want string
	}{
		{"not JSON", `{`, "want an object of roles"},
		{"null", `null`, "not null"},
		{"array of roles", `[]`, "want an object of roles"},
		{"role not an object", `{"public": 1}`, "want an object of roles"},
		{"empty role name", `{"": {}}`, "a role name is empty"},
		{"rule not an object", `{"public": {"posts": true}}`, `role "public", collection "posts": want an object`},
		{"unknown rule key", `{"public": {"posts": {"filters": {}}}}`, `unknown field "filters"`},
		{"fields a word", `{"public": {"posts": {"fields": "title"}}}`, `fields must be "*" or an array of field names`},
		{"fields numbers", `{"public": {"posts": {"fields": [1]}}}`, `fields must be "*" or an array of field names`},
		{"filter an array", `{"public": {"posts": {"filter": []}}}`, "filter must be an object"},
		{"filter a string", `{"public": {"posts": {"filter": "{}"}}}`, "filter must be an object"},
		{"every collection with fields", `{"admin": {"*": {"fields": ["id"]}}}`, "takes no fields and no filter"},
		{"every collection with a filter", `{"admin": {"*": {"filter": {"id": {"_eq": 1}}}}}`, "takes no fields and no filter"},
		{"data after", `{} {}`, "unexpected data after the object"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			_, err := ParsePermissions([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParsePermissions(%s) = %v, want an error containing %q", tt.in, err, tt.want)
			}
		})
	}
	p, err := ParsePermissions([]byte(`{"public": {"posts": {"fields": "*", "filter": null}, "items": {"fields": ["id"]}}, "admin": {"*": {}}}`))
	if err != nil {
		t.Fatalf("valid permissions: %v", err)
	}
	if r, ok := p.rule("", "posts"); !ok || r.fields != nil || r.filter != nil {
		t.Fatalf(`rule("", posts) = %+v, %v; want every field and row, for the public role`, r, ok)
	}
	if _, ok := p.rule("public", "other"); ok {
		t.Fatal("the public role reads a collection it has no rule for")
	}
	if _, ok := p.rule("admin", "other"); !ok || !p.readsAny("admin") || p.readsAny("public") {
		t.Fatal(`the "*" rule does not stand for every collection`)
	}
}

func TestPermissionsCheck(t *testing.T) {
	tables := []query.Table{{Collection: "posts", Schema: "public", Name: "posts", Key: []string{"id"},
		Columns: []query.Column{{Name: "id", Type: "int4"}, {Name: "title", Type: "text"}}}}
	p, err := ParsePermissions([]byte(`{
		"public": {"posts": {"fields": ["title", "body"]}, "drafts": {}},
		"member": {"posts": {"filter": {"body": {"_eq": "x"}}}, "later": {}, "drafts": {}},
		"editor": {"posts": {}, "public.posts": {}},
		"viewer": {"public.posts": {"fields": ["title"]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	untracked, err := p.Check(tables, query.Limits{})
	if got := strings.Join(untracked, ","); got != "drafts,later" {
		t.Errorf("untracked = %q, want drafts,later", got)
	}
	if r, ok := p.rule("viewer", "posts"); !ok || !slices.Equal(r.fields, []string{"title"}) {
		t.Errorf(`a rule for "public.posts" does not apply to the collection posts: %+v, %v`, r, ok)
	}
	for _, want := range []string{`role "public", collection "posts": no field "body"`, `role "member", collection "posts": filter:`,
		`role "editor" has rules for both "posts" and "public.posts"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check = %v, want an error containing %q", err, want)
		}
	}
	var none *Permissions
	if u, err := none.Check(tables, query.Limits{}); u != nil || err != nil {
		t.Errorf("no permissions: Check = %v, %v", u, err)
	}
}

const postsSetup = `
CREATE TABLE posts (id int PRIMARY KEY, author text, title text, secret text, status text);
SELECT pgfeed.track('posts');
CREATE TABLE items (id int PRIMARY KEY, name text);
SELECT pgfeed.track('items');
INSERT INTO posts VALUES (1, 'ann', 'a1', 's1', 'published'), (2, 'ann', 'a2', 's2', 'draft'),
                         (3, 'bob', 'b3', 's3', 'published'), (4, 'bob', 'b4', 's4', 'draft');
`

const postsPermissions = `{
	"public": {"posts": {"fields": ["title", "status"], "filter": {"status": {"_eq": "published"}}}},
	"member": {"posts": {"filter": {"author": {"_eq": "$CURRENT_USER"}}}},
	"admin":  {"*": {}}
}`

func permissionsEnv(t *testing.T) *testEnv {
	p, err := ParsePermissions([]byte(postsPermissions))
	if err != nil {
		t.Fatal(err)
	}
	return newEnv(t, Config{AuthMode: AuthPublic, Permissions: p}, postsSetup)
}

// TestPermissionsPublic checks a role limited to some fields and rows: the
// snapshot and every event show only those, an update that takes a row out
// of them is a leave, and whatever it may not read is refused alike
// whether or not it exists.
func TestPermissionsPublic(t *testing.T) {
	e := permissionsEnv(t)
	c := e.dial(t, nil)

	forbidden := []struct{ msg, want string }{
		{`{"type":"subscribe","collection":"items","uid":"x"}`, `role \"public\" may not read collection \"items\", or it does not exist`},
		{`{"type":"subscribe","collection":"nope","uid":"x"}`, `role \"public\" may not read collection \"nope\", or it does not exist`},
		{`{"type":"subscribe","collection":"posts","uid":"x","query":{"fields":["title","secret"]}}`, `role \"public\" may not read field \"secret\" of collection \"posts\", or it does not exist`},
		{`{"type":"subscribe","collection":"posts","uid":"x","query":{"fields":"nosuch"}}`, `role \"public\" may not read field \"nosuch\" of collection \"posts\", or it does not exist`},
		{`{"type":"subscribe","collection":"posts","uid":"x","query":{"filter":{"secret":{"_eq":"s1"}}}}`, `role \"public\" may not read field \"secret\" of collection \"posts\", or it does not exist`},
		{`{"type":"subscribe","collection":"posts","uid":"x","query":{"filter":{"_or":[{"title":{"_eq":"a"}},{"author":{"_null":true}}]}}}`, `role \"public\" may not read field \"author\" of collection \"posts\", or it does not exist`},
		{`{"type":"subscribe","collection":"posts","uid":"x","query":{"sort":["-secret"]}}`, `role \"public\" may not read field \"secret\" of collection \"posts\", or it does not exist`},
	}
	for _, f := range forbidden {
		c.send(f.msg)
		c.expect(`{"type":"subscribe","status":"error","error":{"code":"FORBIDDEN","message":"` + f.want + `"},"uid":"x"}`)
	}

	c.send(`{"type":"subscribe","collection":"posts","uid":"all","old":true}`)
	init := c.read()
	p := cursorOf(t, init)
	if want := `{"type":"subscription","event":"init","data":[{"id":1,"title":"a1","status":"published"},{"id":3,"title":"b3","status":"published"}],"uid":"all","cursor":"` + itoa(p) + `"}`; init != want {
		t.Fatalf("init\ngot  %s\nwant %s", init, want)
	}
	c.send(`{"type":"subscribe","collection":"posts","uid":"titles","query":{"fields":["title"],"filter":{"title":{"_starts_with":"b"}},"sort":["-title"]}}`)
	if init := c.read(); init != `{"type":"subscription","event":"init","data":[{"id":3,"title":"b3"}],"uid":"titles","cursor":"`+itoa(p)+`"}` {
		t.Fatalf("init of titles: %s", init)
	}

	e.exec(`INSERT INTO posts VALUES (5, 'cat', 'c5', 's5', 'draft')`)     // p+1: not readable
	e.exec(`UPDATE posts SET status = 'published' WHERE id = 5`)           // p+2: enters
	e.exec(`UPDATE posts SET secret = 'x' WHERE id = 2`)                   // p+3: not readable, before or after
	e.exec(`UPDATE posts SET status = 'draft', secret = 'y' WHERE id = 1`) // p+4: leaves
	e.exec(`DELETE FROM posts WHERE id IN (2, 4)`)                         // p+5: never readable
	e.exec(`INSERT INTO posts VALUES (6, 'cat', 'b6', 's6', 'published')`) // p+6: readable by both
	e.exec(`DELETE FROM posts WHERE id = 3`)                               // p+7: readable
	// The row entered the role's rows: its previous values were not the
	// role's to read.
	c.expect(`{"type":"subscription","event":"update","data":[{"id":5,"title":"c5","status":"published"}],"old":[null],"uid":"all","cursor":"` + itoa(p+2) + `"}`)
	c.expect(`{"type":"subscription","event":"delete","data":[1],"old":[{"id":1,"title":"a1","status":"published"}],"reason":"leave","uid":"all","cursor":"` + itoa(p+4) + `"}`)
	c.expectAll(`{"type":"subscription","event":"create","data":[{"id":6,"title":"b6","status":"published"}],"uid":"all","cursor":"`+itoa(p+6)+`"}`,
		`{"type":"subscription","event":"create","data":[{"id":6,"title":"b6"}],"uid":"titles","cursor":"`+itoa(p+6)+`"}`)
	c.expectAll(`{"type":"subscription","event":"delete","data":[3],"old":[{"id":3,"title":"b3","status":"published"}],"uid":"all","cursor":"`+itoa(p+7)+`"}`,
		`{"type":"subscription","event":"delete","data":[3],"uid":"titles","cursor":"`+itoa(p+7)+`"}`)
	c.alive()
}

// TestPermissionsByRole checks rows limited by the subject, a role with
// every collection, a role with none, and that a subscription made under
// one identity starts over when the connection takes another.
func TestPermissionsByRole(t *testing.T) {
	e := permissionsEnv(t)
	c := e.dial(t, nil)
	c.send(`{"type":"auth","access_token":"` + roleToken(t, "ann", "member") + `"}`)
	c.expect(`{"type":"auth","status":"ok"}`)
	c.send(`{"type":"subscribe","collection":"posts","uid":"p","query":{"fields":["title","author"]}}`)
	init := c.read()
	p := cursorOf(t, init)
	if want := `{"type":"subscription","event":"init","data":[{"id":1,"author":"ann","title":"a1"},{"id":2,"author":"ann","title":"a2"}],"uid":"p","cursor":"` + itoa(p) + `"}`; init != want {
		t.Fatalf("init\ngot  %s\nwant %s", init, want)
	}
	c.send(`{"type":"subscribe","collection":"items","uid":"i"}`)
	c.expect(`{"type":"subscribe","status":"error","error":{"code":"FORBIDDEN","message":"role \"member\" may not read collection \"items\", or it does not exist"},"uid":"i"}`)

	e.exec(`INSERT INTO posts VALUES (5, 'bob', 'b5', 's5', 'draft')`) // p+1: bob's
	e.exec(`UPDATE posts SET author = 'bob' WHERE id = 2`)             // p+2: leaves ann
	e.exec(`INSERT INTO posts VALUES (6, 'ann', 'a6', 's6', 'draft')`) // p+3: ann's
	c.expect(`{"type":"subscription","event":"delete","data":[2],"reason":"leave","uid":"p","cursor":"` + itoa(p+2) + `"}`)
	c.expect(`{"type":"subscription","event":"create","data":[{"id":6,"author":"ann","title":"a6"}],"uid":"p","cursor":"` + itoa(p+3) + `"}`)

	// The same identity again (a refreshed token): nothing starts over.
	c.send(`{"type":"auth","access_token":"` + roleToken(t, "ann", "member") + `"}`)
	c.expect(`{"type":"auth","status":"ok"}`)
	c.alive()

	// Another subject: the subscription starts over with bob's rows.
	c.send(`{"type":"auth","access_token":"` + roleToken(t, "bob", "member") + `"}`)
	c.expect(`{"type":"auth","status":"ok"}`)
	init = c.read()
	p = cursorOf(t, init)
	if want := `{"type":"subscription","event":"init","data":[{"id":2,"author":"bob","title":"a2"},{"id":3,"author":"bob","title":"b3"},{"id":4,"author":"bob","title":"b4"},{"id":5,"author":"bob","title":"b5"}],"uid":"p","cursor":"` + itoa(p) + `"}`; init != want {
		t.Fatalf("init after changing subject\ngot  %s\nwant %s", init, want)
	}
	e.exec(`UPDATE posts SET title = 'A6' WHERE id = 6`) // p+1: ann's
	e.exec(`UPDATE posts SET title = 'B5' WHERE id = 5`) // p+2: bob's
	c.expect(`{"type":"subscription","event":"update","data":[{"id":5,"author":"bob","title":"B5"}],"uid":"p","cursor":"` + itoa(p+2) + `"}`)

	// A token with no role has the public role's rules.
	c.send(`{"type":"auth","access_token":"` + roleToken(t, "bob", "") + `"}`)
	c.expect(`{"type":"auth","status":"ok"}`)
	c.expect(`{"type":"subscribe","status":"error","error":{"code":"FORBIDDEN","message":"role \"public\" may not read field \"author\" of collection \"posts\", or it does not exist"},"uid":"p"}`)

	// A role with every collection; one that does not exist is said not to.
	c.send(`{"type":"auth","access_token":"` + roleToken(t, "root", "admin") + `"}`)
	c.expect(`{"type":"auth","status":"ok"}`)
	c.send(`{"type":"subscribe","collection":"items","uid":"i","event":"create"}`)
	c.expectPrefix(`{"type":"subscription","event":"init","uid":"i",`)
	c.send(`{"type":"subscribe","collection":"nope","uid":"n"}`)
	c.expect(`{"type":"subscribe","status":"error","error":{"code":"INVALID_COLLECTION","message":"collection \"nope\" does not exist or is not tracked"},"uid":"n"}`)

	// A role with no rules reads nothing.
	c.send(`{"type":"auth","access_token":"` + roleToken(t, "eve", "guest") + `"}`)
	c.expect(`{"type":"auth","status":"ok"}`)
	c.expect(`{"type":"subscribe","status":"error","error":{"code":"FORBIDDEN","message":"role \"guest\" may not read collection \"items\", or it does not exist"},"uid":"i"}`)
	waitFor(t, "no subscriptions left", func() bool { return e.srv.Stats().Subscriptions == 0 })
}

// TestPublicFallbackStartsOver checks that in public mode a subscription
// made under a token starts over under the public role when the token
// expires.
func TestPublicFallbackStartsOver(t *testing.T) {
	e := permissionsEnv(t)
	c := e.dial(t, nil)
	exp := time.Now().Add(3 * time.Second)
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "ann", "role": "member", "exp": exp.Unix()}).SignedString(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	c.send(`{"type":"auth","access_token":"` + tok + `"}`)
	c.expect(`{"type":"auth","status":"ok"}`)
	c.send(`{"type":"subscribe","collection":"posts","uid":"p","query":{"fields":"title"}}`)
	c.expectPrefix(`{"type":"subscription","event":"init","data":[{"id":1,"title":"a1"},{"id":2,"title":"a2"}],"uid":"p"`)
	m, err := c.next(10 * time.Second)
	if err != nil || !strings.Contains(m, `"code":"TOKEN_EXPIRED"`) {
		t.Fatalf("got %q, %v; want TOKEN_EXPIRED", m, err)
	}
	c.expectPrefix(`{"type":"subscription","event":"init","data":[{"id":1,"title":"a1"},{"id":3,"title":"b3"}],"uid":"p"`)
}

// expectAll reads as many messages as wants, in any order, and checks they
// are wants: messages to several subscriptions of one connection for one
// change come in no set order.
func (c *client) expectAll(wants ...string) {
	c.t.Helper()
	got := make([]string, len(wants))
	for i := range got {
		got[i] = c.read()
	}
	want := slices.Clone(wants)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		c.t.Fatalf("got\n%s\nwant, in any order,\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestSetPermissions replaces the rules of a running server: the
// subscriptions of a role whose rules changed start over under the new
// ones, those of other roles go on.
func TestSetPermissions(t *testing.T) {
	e := permissionsEnv(t)
	pub := e.dial(t, nil)
	pub.send(`{"type":"subscribe","collection":"posts","uid":"p"}`)
	pub.expectPrefix(`{"type":"subscription","event":"init","data":[{"id":1,"title":"a1","status":"published"},{"id":3,"title":"b3","status":"published"}],"uid":"p"`)
	mem := e.dial(t, nil)
	mem.send(`{"type":"auth","access_token":"` + roleToken(t, "ann", "member") + `"}`)
	mem.expect(`{"type":"auth","status":"ok"}`)
	mem.send(`{"type":"subscribe","collection":"posts","uid":"m","query":{"fields":"title"}}`)
	mem.expectPrefix(`{"type":"subscription","event":"init","data":[{"id":1,"title":"a1"},{"id":2,"title":"a2"}],"uid":"m"`)

	set := func(rules string) {
		t.Helper()
		p, err := ParsePermissions([]byte(rules))
		if err != nil {
			t.Fatal(err)
		}
		e.srv.SetPermissions(p)
	}
	const member = `"member": {"posts": {"filter": {"author": {"_eq": "$CURRENT_USER"}}}}`
	// The public role now reads titles alone.
	set(`{"public": {"posts": {"fields": ["title"], "filter": {"status": {"_eq": "published"}}}}, ` + member + `}`)
	pub.expectPrefix(`{"type":"subscription","event":"init","data":[{"id":1,"title":"a1"},{"id":3,"title":"b3"}],"uid":"p"`)
	mem.alive() // its rules did not change: no new init
	// And the titles of every row.
	set(`{"public": {"posts": {"fields": ["title"]}}, ` + member + `}`)
	pub.expectPrefix(`{"type":"subscription","event":"init","data":[{"id":1,"title":"a1"},{"id":2,"title":"a2"},{"id":3,"title":"b3"},{"id":4,"title":"b4"}],"uid":"p"`)
	mem.alive() // its rules did not change: no new init
	// The public role loses the collection.
	set(`{` + member + `}`)
	pub.expect(`{"type":"subscribe","status":"error","error":{"code":"FORBIDDEN","message":"role \"public\" may not read collection \"posts\", or it does not exist"},"uid":"p"}`)
	mem.alive()
	e.exec(`INSERT INTO posts VALUES (7, 'ann', 'a7', 's7', 'draft')`)
	mem.expectPrefix(`{"type":"subscription","event":"create","data":[{"id":7,"title":"a7"}],"uid":"m"`)
	// Without rules, every role reads everything.
	e.srv.SetPermissions(nil)
	mem.expectPrefix(`{"type":"subscription","event":"init","data":[{"id":1,"title":"a1"},{"id":2,"title":"a2"},{"id":3,"title":"b3"},{"id":4,"title":"b4"},{"id":7,"title":"a7"}],"uid":"m"`)
}

// TestSearch checks query.search: the snapshot and the events hold the rows
// with the text in a field, ignoring case (or the number in a numeric
// field), and only fields the role may read are searched.
func TestSearch(t *testing.T) {
	e := permissionsEnv(t)
	c := e.dial(t, nil)

	// s1 is in row 1's secret, which the public role may not read.
	c.send(`{"type":"subscribe","collection":"posts","uid":"secret","query":{"search":"S1"}}`)
	init := c.read()
	p := cursorOf(t, init)
	if want := `{"type":"subscription","event":"init","data":[],"uid":"secret","cursor":"` + itoa(p) + `"}`; init != want {
		t.Fatalf("init of a search in an unreadable field\ngot  %s\nwant %s", init, want)
	}
	c.send(`{"type":"subscribe","collection":"posts","uid":"a","query":{"search":"A","fields":"title"}}`)
	if got, want := c.read(), `{"type":"subscription","event":"init","data":[{"id":1,"title":"a1"}],"uid":"a","cursor":"`+itoa(p)+`"}`; got != want {
		t.Fatalf("init of a search for A\ngot  %s\nwant %s", got, want)
	}
	e.exec(`INSERT INTO posts VALUES (5, 'bob', 'Ant', 's1', 'published')`) // p+1: has a
	e.exec(`INSERT INTO posts VALUES (6, 'bob', 'dog', 's1', 'published')`) // p+2: no a
	e.exec(`UPDATE posts SET title = 'cow' WHERE id = 1`)                   // p+3: leaves
	c.expect(`{"type":"subscription","event":"create","data":[{"id":5,"title":"Ant"}],"uid":"a","cursor":"` + itoa(p+1) + `"}`)
	c.expect(`{"type":"subscription","event":"delete","data":[1],"reason":"leave","uid":"a","cursor":"` + itoa(p+3) + `"}`)
	c.alive()

	// A role that reads every field finds s1 in secret; a number is looked
	// for in the key too.
	a := e.dial(t, nil)
	a.send(`{"type":"auth","access_token":"` + roleToken(t, "root", "admin") + `"}`)
	a.expect(`{"type":"auth","status":"ok"}`)
	a.send(`{"type":"subscribe","collection":"posts","uid":"s","query":{"search":"s1","fields":"id"}}`)
	a.expectPrefix(`{"type":"subscription","event":"init","data":[{"id":1},{"id":5},{"id":6}],"uid":"s"`)
	a.send(`{"type":"subscribe","collection":"posts","uid":"n","query":{"search":4,"fields":"id"}}`)
	a.expectPrefix(`{"type":"subscription","event":"init","data":[{"id":4}],"uid":"n"`)
	a.send(`{"type":"subscribe","collection":"posts","uid":"x","query":{"search":["s1"]}}`)
	a.expect(`{"type":"subscribe","status":"error","error":{"code":"INVALID_QUERY","message":"query.search must be a string"},"uid":"x"}`)
}

// TestCurrentRole checks $CURRENT_ROLE: the token's role in a filter, and
// NULL (matching nothing) for a connection without one.
func TestCurrentRole(t *testing.T) {
	e := permissionsEnv(t)
	e.exec(`INSERT INTO posts VALUES (5, 'admin', 'by the role', 's5', 'published')`)
	a := e.dial(t, nil)
	a.send(`{"type":"auth","access_token":"` + roleToken(t, "root", "admin") + `"}`)
	a.expect(`{"type":"auth","status":"ok"}`)
	a.send(`{"type":"subscribe","collection":"posts","uid":"r","query":{"fields":"id","filter":{"author":{"_eq":"$CURRENT_ROLE"}}}}`)
	p := cursorOf(t, a.expectPrefix(`{"type":"subscription","event":"init","data":[{"id":5}],"uid":"r"`))

	c := e.dial(t, nil) // the public role, with no role claim
	c.send(`{"type":"subscribe","collection":"posts","uid":"n","query":{"filter":{"title":{"_neq":"$CURRENT_ROLE"}}}}`)
	c.expect(`{"type":"subscription","event":"init","data":[],"uid":"n","cursor":"` + itoa(p) + `"}`)

	e.exec(`INSERT INTO posts VALUES (6, 'bob', 'b6', 's6', 'published')`)   // p+1
	e.exec(`INSERT INTO posts VALUES (7, 'admin', 'a7', 's7', 'published')`) // p+2
	a.expect(`{"type":"subscription","event":"create","data":[{"id":7}],"uid":"r","cursor":"` + itoa(p+2) + `"}`)
	c.alive()
}
