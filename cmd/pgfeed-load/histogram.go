package main

import (
	"math"
	"sort"
	"time"
)

// Histogram counts latencies in buckets 1% wide, so that children can send
// theirs to the parent and percentiles merge exactly to within 1%.
type Histogram struct {
	Counts map[int]int64 `json:"counts"` // bucket -> count
	N      int64         `json:"n"`
	Max    int64         `json:"max_us"`
}

const bucketBase = 1.01

func newHistogram() *Histogram { return &Histogram{Counts: map[int]int64{}} }

// Add records one latency.
func (h *Histogram) Add(d time.Duration) {
	us := d.Microseconds()
	if us < 1 {
		us = 1
	}
	h.Counts[int(math.Log(float64(us))/math.Log(bucketBase))]++
	h.N++
	if us > h.Max {
		h.Max = us
	}
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	for b, n := range o.Counts {
		h.Counts[b] += n
	}
	h.N += o.N
	if o.Max > h.Max {
		h.Max = o.Max
	}
}

// Quantile returns the latency at quantile q (0..1), as the upper bound of
// its bucket.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.N == 0 {
		return 0
	}
	buckets := make([]int, 0, len(h.Counts))
	for b := range h.Counts {
		buckets = append(buckets, b)
	}
	sort.Ints(buckets)
	want := int64(math.Ceil(q * float64(h.N)))
	var seen int64
	for _, b := range buckets {
		seen += h.Counts[b]
		if seen >= want {
			return time.Duration(math.Pow(bucketBase, float64(b+1))) * time.Microsecond
		}
	}
	return time.Duration(h.Max) * time.Microsecond
}
