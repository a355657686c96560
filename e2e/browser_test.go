package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"
	"github.com/pgfeed/pgfeed/store/storetest"
)

const chromium = "/usr/bin/chromium"

// newBrowser starts headless Chromium with a fresh profile and no
// background network traffic (this machine's network is loopback only).
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s is missing: run `make deps` (apt-get install chromium): %v", chromium, err)
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1000, 800),
	)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	return ctx
}

// screenshot saves the page to e2e/artifacts/name, as a test artifact.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := filepath.Join(repoRoot(t), "e2e", "artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// rowXPath finds the list item showing a message text.
func rowXPath(text string) string {
	return `//ul[@id="messages"]/li[span[@class="text" and text()="` + text + `"]]`
}

// TestBrowserDemo opens the demo page of `pgfeed dev` in Chromium: a row
// inserted with SQL appears on the page, and a message added through the
// page's form lands in the table and on the page.
func TestBrowserDemo(t *testing.T) {
	t.Parallel()
	u := storetest.NewDB(t) // dev installs pgfeed and the demo table itself
	s := startCommand(t, "", cleanEnv("DATABASE_URL="+u), "dev")
	out, _, err := s.stdout.waitFor(0, 10*time.Second, func(l string) bool { return strings.Contains(l, "INSERT INTO messages") })
	if err != nil {
		t.Fatalf("pgfeed dev printed no psql command:\n%s", s.stdout)
	}
	if want := `psql "$DATABASE_URL" -c "INSERT INTO messages(text) VALUES ('hi')"`; strings.TrimSpace(out) != want {
		t.Fatalf("psql line = %q, want %q", out, want)
	}
	if !strings.Contains(s.stdout.String(), "serving the demo at "+s.httpURL()+"/") {
		t.Fatalf("pgfeed dev did not print the demo URL %s/:\n%s", s.httpURL(), s.stdout)
	}
	s.waitReady(t)

	ctx := newBrowser(t)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(s.httpURL()+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#status[data-state="live"]`)),
	); err != nil {
		t.Fatalf("open demo page: %v", err)
	}

	storetest.Exec(t, u, `INSERT INTO messages (text, author) VALUES ('inserted with SQL', 'psql')`)
	if err := chromedp.Do(ctx, chromedp.WaitVisible(rowXPath("inserted with SQL"))); err != nil {
		t.Fatalf("row inserted with SQL did not appear: %v", err)
	}
	author, err := chromedp.Run(ctx, chromedp.Text(rowXPath("inserted with SQL")+`/span[@class="author"]`))
	if err != nil {
		t.Fatalf("read author: %v", err)
	}
	if author != "psql" {
		t.Fatalf("author shown = %q, want psql", author)
	}
	screenshot(t, ctx, "demo-sql-insert.png")

	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#text`), "typed in the page"),
		chromedp.SendKeys(chromedp.CSS(`#author`), "chromium"),
		chromedp.Click(chromedp.CSS(`#send`)),
		chromedp.WaitVisible(rowXPath("typed in the page")),
	); err != nil {
		t.Fatalf("message added through the form did not appear: %v", err)
	}
	var count int
	conn, err := pgx.Connect(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(context.Background(),
		`SELECT count(*) FROM messages WHERE text = 'typed in the page' AND author = 'chromium'`).Scan(&count); err != nil || count != 1 {
		t.Fatalf("rows added by the form = %d (%v), want 1", count, err)
	}
	storetest.Exec(t, u, `DELETE FROM messages WHERE text = 'inserted with SQL'`)
	if err := chromedp.Do(ctx, chromedp.WaitNotPresent(rowXPath("inserted with SQL"))); err != nil {
		t.Fatalf("deleted row stayed on the page: %v", err)
	}
	if shown, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#count`))); err != nil || shown != "1" {
		t.Fatalf("row count shown = %q (%v), want 1", shown, err)
	}
	screenshot(t, ctx, "demo-form.png")

	// Restart the server; a row inserted while it is down reaches the page
	// when it reconnects and resumes from its last cursor.
	if code := s.stop(20 * time.Second); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d", code)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#status[data-state="closed"]`))); err != nil {
		t.Fatalf("page did not notice the server going away: %v", err)
	}
	storetest.Exec(t, u, `INSERT INTO messages (text) VALUES ('written while down')`)
	s = startCommand(t, "", cleanEnv("DATABASE_URL="+u), "dev", "--addr", s.addr)
	s.waitReady(t)
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(rowXPath("written while down")),
		chromedp.WaitVisible(chromedp.CSS(`#status[data-state="live"]`)),
	); err != nil {
		t.Fatalf("row written while the server was down did not appear after it came back: %v", err)
	}
	if shown, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#count`))); err != nil || shown != "2" {
		t.Fatalf("row count shown after resume = %q (%v), want 2", shown, err)
	}
}
