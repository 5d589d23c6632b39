package cluster

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// blobs makes n noisy vectors around each of the given directions, in
// interleaved order, and returns them with their true cluster.
func blobs(dirs [][]float32, n int, noise float64, seed uint64) ([][]float32, []int) {
	rng := rand.New(rand.NewPCG(seed, seed))
	var vecs [][]float32
	var truth []int
	for i := 0; i < n; i++ {
		for c, d := range dirs {
			v := make([]float32, len(d))
			for j := range d {
				v[j] = d[j]*float32(1+rng.Float64()) + float32(noise*rng.NormFloat64())
			}
			vecs = append(vecs, v)
			truth = append(truth, c)
		}
	}
	return vecs, truth
}

var axes = [][]float32{{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}}

func TestKMeansFindsKnownClusters(t *testing.T) {
	vecs, truth := blobs(axes, 40, 0.1, 1)
	for seed := uint64(0); seed < 5; seed++ {
		res, err := KMeans(vecs, 3, seed)
		if err != nil {
			t.Fatal(err)
		}
		// Every true cluster maps to exactly one fitted cluster.
		m := map[int]int{}
		for i, c := range res.Assign {
			if want, ok := m[truth[i]]; ok && want != c {
				t.Fatalf("seed %d: item %d of true cluster %d in %d, others in %d", seed, i, truth[i], c, want)
			}
			m[truth[i]] = c
		}
		if len(m) != 3 || m[0] == m[1] || m[1] == m[2] || m[0] == m[2] {
			t.Fatalf("seed %d: clusters %v", seed, m)
		}
		// The centroids are unit vectors along the axes.
		for tc, c := range m {
			if sim := Dot(res.Centroids[c], axes[tc]); sim < 0.95 {
				t.Fatalf("seed %d: centroid of %d has cosine %.3f to its axis", seed, tc, sim)
			}
			if n := Dot(res.Centroids[c], res.Centroids[c]); n < 0.999 || n > 1.001 {
				t.Fatalf("centroid norm² %v", n)
			}
		}
		// Nearest agrees with the fit.
		for i, v := range vecs {
			nv, _ := Normalize(v)
			if c, _ := Nearest(res.Centroids, nv); c != res.Assign[i] {
				t.Fatalf("Nearest(%d) = %d, assigned %d", i, c, res.Assign[i])
			}
		}
	}
}

func TestKMeansDeterministic(t *testing.T) {
	vecs, _ := blobs(axes, 30, 0.6, 2) // overlapping: the seed matters
	a, err := KMeans(vecs, 4, 42)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := KMeans(vecs, 4, 42)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different clusters")
	}
}

func TestKMeansRefuses(t *testing.T) {
	tests := []struct {
		name string
		vecs [][]float32
		k    int
		want string
	}{
		{"k above items", [][]float32{{1, 0}, {0, 1}}, 3, "need at least 3 vectors"},
		{"k zero", [][]float32{{1, 0}}, 0, "at least 1"},
		{"dimensions differ", [][]float32{{1, 0}, {0, 1, 0}}, 1, "dimensions"},
		{"zero vector", [][]float32{{1, 0}, {0, 0}}, 1, "normalized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := KMeans(tt.vecs, tt.k, 1); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
		})
	}
}

func TestKMeansIdenticalPoints(t *testing.T) {
	vecs := [][]float32{{1, 0}, {1, 0}, {1, 0}, {0, 1}}
	res, err := KMeans(vecs, 3, 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Centroids) != 3 || res.Assign[3] == res.Assign[0] {
		t.Fatalf("%+v", res)
	}
}

func TestNearestMismatch(t *testing.T) {
	if c, _ := Nearest([][]float32{{1, 0}}, []float32{1, 0, 0}); c != -1 {
		t.Fatalf("Nearest with other dimensions = %d", c)
	}
}
