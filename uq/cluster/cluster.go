// Package cluster fits k clusters of embedding vectors by cosine
// similarity (spherical k-means with k-means++ seeding and a fixed seed)
// and finds a vector's nearest centroid. edgecascade calibrate --groups K
// fits the clusters of the calibration prompts; the daemon assigns each
// request without an explicit group to the nearest one.
package cluster

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// maxIterations bounds the assignment/update rounds of KMeans.
const maxIterations = 100

// Result is a fit: the unit-length centroids and, for each input vector,
// the index of its cluster.
type Result struct {
	Centroids [][]float32
	Assign    []int
}

// Normalize returns v scaled to unit length, or an error when v is empty,
// zero or not finite.
func Normalize(v []float32) ([]float32, error) {
	if len(v) == 0 {
		return nil, errors.New("empty vector")
	}
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	n := math.Sqrt(s)
	if n == 0 || math.IsNaN(n) || math.IsInf(n, 0) {
		return nil, fmt.Errorf("vector of norm %v cannot be normalized", n)
	}
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(float64(x) / n)
	}
	return out, nil
}

// Dot is the dot product (the cosine of two unit vectors).
func Dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

// Nearest returns the index of the centroid most similar to v (cosine; the
// centroids are unit vectors) and that similarity; -1 when there are none
// or the dimensions differ.
func Nearest(centroids [][]float32, v []float32) (int, float64) {
	best, sim := -1, math.Inf(-1)
	for i, c := range centroids {
		if len(c) != len(v) {
			return -1, 0
		}
		if d := Dot(c, v); d > sim {
			best, sim = i, d
		}
	}
	return best, sim
}

// KMeans fits k clusters of vecs by cosine similarity: the vectors are
// normalized, the first centroids chosen by k-means++ (each next one with
// probability proportional to its squared distance 2-2cos to the nearest
// chosen) from a generator seeded with seed, then assignment and update
// (the normalized mean) alternate until no assignment changes. The same
// vectors and seed give the same clusters. It refuses k < 1, k above the
// number of vectors, and vectors of different or zero length.
func KMeans(vecs [][]float32, k int, seed uint64) (Result, error) {
	if k < 1 {
		return Result{}, fmt.Errorf("k must be at least 1, got %d", k)
	}
	if k > len(vecs) {
		return Result{}, fmt.Errorf("k = %d clusters need at least %d vectors, got %d", k, k, len(vecs))
	}
	xs := make([][]float32, len(vecs))
	for i, v := range vecs {
		if len(v) != len(vecs[0]) {
			return Result{}, fmt.Errorf("vector %d has %d dimensions, vector 0 has %d", i, len(v), len(vecs[0]))
		}
		n, err := Normalize(v)
		if err != nil {
			return Result{}, fmt.Errorf("vector %d: %w", i, err)
		}
		xs[i] = n
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	cents := seedPlusPlus(xs, k, rng)
	assign := make([]int, len(xs))
	for i := range assign {
		assign[i] = -1
	}
	for it := 0; it < maxIterations; it++ {
		changed := false
		for i, x := range xs {
			if c, _ := Nearest(cents, x); c != assign[i] {
				assign[i], changed = c, true
			}
		}
		if !changed {
			break
		}
		cents = update(xs, assign, cents)
	}
	return Result{Centroids: cents, Assign: assign}, nil
}

// seedPlusPlus picks k centroids among xs by k-means++.
func seedPlusPlus(xs [][]float32, k int, rng *rand.Rand) [][]float32 {
	cents := [][]float32{clone(xs[rng.IntN(len(xs))])}
	d2 := make([]float64, len(xs))
	for len(cents) < k {
		var total float64
		for i, x := range xs {
			_, sim := Nearest(cents, x)
			d2[i] = math.Max(0, 2-2*sim)
			total += d2[i]
		}
		pick := -1
		if total > 0 {
			r := rng.Float64() * total
			for i, d := range d2 {
				if r -= d; r < 0 && d > 0 {
					pick = i
					break
				}
			}
		}
		if pick < 0 { // all remaining points coincide with a centroid, or rounding
			pick = farthest(d2)
		}
		cents = append(cents, clone(xs[pick]))
	}
	return cents
}

// update returns the normalized means of each cluster; an emptied cluster
// takes the point farthest from its own centroid.
func update(xs [][]float32, assign []int, old [][]float32) [][]float32 {
	dim := len(xs[0])
	sums := make([][]float64, len(old))
	counts := make([]int, len(old))
	for i := range sums {
		sums[i] = make([]float64, dim)
	}
	for i, x := range xs {
		c := assign[i]
		counts[c]++
		for j, v := range x {
			sums[c][j] += float64(v)
		}
	}
	cents := make([][]float32, len(old))
	for c := range old {
		v := make([]float32, dim)
		for j, s := range sums[c] {
			v[j] = float32(s)
		}
		if n, err := Normalize(v); counts[c] > 0 && err == nil {
			cents[c] = n
			continue
		}
		d := make([]float64, len(xs))
		for i, x := range xs {
			d[i] = 2 - 2*Dot(old[assign[i]], x)
		}
		cents[c] = clone(xs[farthest(d)])
	}
	return cents
}

func farthest(d []float64) int {
	best := 0
	for i, v := range d {
		if v > d[best] {
			best = i
		}
	}
	return best
}

func clone(v []float32) []float32 { return append([]float32(nil), v...) }
