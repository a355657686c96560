package main

import (
	"strings"
)

// oneLine renders err for a person on one line: joined errors and
// multi-line server messages become "; "-separated.
func oneLine(err error) string {
	s := strings.TrimSpace(err.Error())
	s = strings.ReplaceAll(s, "\r", "")
	parts := strings.Split(s, "\n")
	out := parts[:0]
	seen := make(map[string]bool)
	for _, p := range parts {
		p = strings.TrimSuffix(strings.TrimSpace(p), ":")
		if p != "" && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return strings.Join(out, ": ")
}
