package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pgfeed/pgfeed/store"
	"github.com/rs/zerolog"
)

// TestLogCapture: a table whose writes go unrecorded is an error, one whose
// replica writes do a warning, each once, and the return to recording
// everything is said once too.
func TestLogCapture(t *testing.T) {
	var buf bytes.Buffer
	log := zerolog.New(&buf)
	lines := func() []map[string]string { return logLines(t, &buf) }

	start := map[string]string{"a": store.CaptureAlways, "b": store.CaptureDisabled, "c": store.CaptureOrigin, "d": store.CaptureIncomplete}
	logCapture(log, nil, start)
	got := lines()
	want := [][2]string{{"b", "error"}, {"c", "warn"}, {"d", "error"}}
	if len(got) != len(want) {
		t.Fatalf("at start: %v, want lines for %v", got, want)
	}
	for i, w := range want {
		if got[i]["collection"] != w[0] || got[i]["level"] != w[1] || got[i]["capture"] == "" || got[i]["fix"] == "" {
			t.Errorf("line %d = %v, want %s at level %s with its state and a fix", i, got[i], w[0], w[1])
		}
	}

	logCapture(log, start, start)
	if got := lines(); len(got) != 0 {
		t.Errorf("nothing changed, yet: %v", got)
	}

	fixed := map[string]string{"a": store.CaptureAlways, "b": store.CaptureAlways, "c": store.CaptureOrigin, "e": store.CaptureAlways}
	logCapture(log, start, fixed)
	got = lines()
	if len(got) != 1 || got[0]["collection"] != "b" || got[0]["level"] != "info" {
		t.Errorf("after b was fixed and e tracked: %v, want one info line for b", got)
	}
}

// TestLogUnreadable: a table pgfeed's role cannot read whole is an error,
// said once, with the fix for its cause; reading it again is said once.
func TestLogUnreadable(t *testing.T) {
	var buf bytes.Buffer
	log := zerolog.New(&buf)
	lines := func() []map[string]string { return logLines(t, &buf) }
	start := map[string]string{"a": "", "b": store.UnreadablePolicy, "c": store.UnreadablePrivilege}
	logUnreadable(log, nil, start)
	got := lines()
	if len(got) != 2 || got[0]["collection"] != "b" || got[1]["collection"] != "c" {
		t.Fatalf("at start: %v, want errors for b and c", got)
	}
	for _, l := range got {
		if l["level"] != "error" || l["fix"] == "" {
			t.Errorf("line %v, want an error with a fix", l)
		}
	}
	if !strings.Contains(got[0]["fix"], "BYPASSRLS") || !strings.Contains(got[1]["fix"], "GRANT SELECT") {
		t.Errorf("fixes %q and %q do not match the causes", got[0]["fix"], got[1]["fix"])
	}
	logUnreadable(log, start, start)
	if got := lines(); len(got) != 0 {
		t.Errorf("nothing changed, yet: %v", got)
	}
	logUnreadable(log, start, map[string]string{"a": "", "b": "", "c": store.UnreadablePrivilege})
	if got := lines(); len(got) != 1 || got[0]["collection"] != "b" || got[0]["level"] != "info" {
		t.Errorf("after b was fixed: %v, want one info line for b", got)
	}
	logUnreadable(log, start, map[string]string{"a": "", "c": store.UnreadablePrivilege})
	if got := lines(); len(got) != 0 {
		t.Errorf("after b was untracked: %v, want nothing", got)
	}
}

// logLines returns the JSON log lines in buf, and empties it.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]string {
	t.Helper()
	var out []map[string]string
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		m := map[string]string{}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	buf.Reset()
	return out
}
