package calib

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func groupsFile() *File {
	th := 0.5
	return &File{Version: FileVersion, LocalModel: "m", Scorer: "mean_logprob", Scorers: map[string]ScorerFit{
		"mean_logprob": {Threshold: &th, Map: Isotonic{X: []float64{0, 1}, Y: []float64{0.2, 0.9}}},
	}}
}

// TestGroupsRoundTrip: clusters written by calibrate --groups read back
// as written; a file without them (an older one) still loads.
func TestGroupsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	th := 0.61
	f := groupsFile()
	f.Groups = &Groups{EmbedModel: "emb", Seed: 1, Clusters: []Cluster{
		{Name: ClusterName(0), Centroid: []float32{1, 0}, Size: 3, Correct: 2, Threshold: &th},
		{Name: ClusterName(1), Centroid: []float32{0.6, 0.8}, Size: 1, Error: "too few items"},
	}}
	path := filepath.Join(dir, "c.json")
	if err := f.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Groups, f.Groups) {
		t.Fatalf("groups %+v, wrote %+v", got.Groups, f.Groups)
	}
	if reflect.DeepEqual(got.Groups.Centroids(), [][]float32{{1, 0}, {0.6, 0.8}}) == false {
		t.Fatalf("centroids %v", got.Groups.Centroids())
	}

	old := groupsFile()
	b, _ := json.Marshal(old)
	if strings.Contains(string(b), "groups") {
		t.Fatalf("a file without groups writes them: %s", b)
	}
	oldPath := filepath.Join(dir, "old.json")
	if err := os.WriteFile(oldPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if o, err := ReadFile(oldPath); err != nil || o.Groups != nil || o.CheckGroups("anything") != nil {
		t.Fatalf("old file: %v %+v", err, o)
	}
}

// TestGroupsRefused: clusters of another embed model are refused naming
// the setting; malformed clusters do not load.
func TestGroupsRefused(t *testing.T) {
	f := groupsFile()
	f.Groups = &Groups{EmbedModel: "emb", Clusters: []Cluster{{Name: "cluster-0", Centroid: []float32{1, 0}}}}
	if err := f.CheckGroups("emb"); err != nil {
		t.Fatal(err)
	}
	err := f.CheckGroups("other")
	if err == nil || !strings.Contains(err.Error(), "local.embed_model") || !strings.Contains(err.Error(), `"emb"`) {
		t.Fatalf("CheckGroups(other) = %v", err)
	}
	tests := []struct {
		name string
		g    Groups
		want string
	}{
		{"no model", Groups{Clusters: []Cluster{{Name: "a", Centroid: []float32{1}}}}, "no embed model"},
		{"no clusters", Groups{EmbedModel: "e"}, "no clusters"},
		{"repeated name", Groups{EmbedModel: "e", Clusters: []Cluster{{Name: "a", Centroid: []float32{1}}, {Name: "a", Centroid: []float32{1}}}}, "repeated"},
		{"dimensions", Groups{EmbedModel: "e", Clusters: []Cluster{{Name: "a", Centroid: []float32{1}}, {Name: "b", Centroid: []float32{1, 0}}}}, "dimensions"},
		{"not unit", Groups{EmbedModel: "e", Clusters: []Cluster{{Name: "a", Centroid: []float32{2, 0}}}}, "unit vector"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := groupsFile()
			f.Groups = &tt.g
			if err := f.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
}
