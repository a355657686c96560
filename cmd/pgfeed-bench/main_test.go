package main

import (
	"slices"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		v    []float64
		want float64
	}{
		{[]float64{0.7}, 0.7},
		{[]float64{0.9, 0.5, 0.7}, 0.7},
		{[]float64{0.8, 0.6, 0.9, 0.7}, 0.75},
	} {
		in := slices.Clone(c.v)
		if got := median(c.v); got != c.want {
			t.Errorf("median(%v) = %v, want %v", in, got, c.want)
		}
		if !slices.Equal(c.v, in) {
			t.Errorf("median reordered its argument: %v, was %v", c.v, in)
		}
	}
}
