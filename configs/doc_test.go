package configs

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var updateDoc = flag.Bool("update", false, "rewrite docs/configuration.md from the settings table")

// TestConfigDoc fails when docs/configuration.md does not match the settings
// table; -update rewrites it (as `go generate ./configs` does).
func TestConfigDoc(t *testing.T) {
	for _, s := range Settings {
		if _, ok := allowed[s.Key]; !ok {
			t.Errorf("setting %s has no allowed values in configs/doc.go", s.Key)
		}
	}
	keys := map[string]bool{}
	for _, s := range Settings {
		keys[s.Key] = true
	}
	for k := range allowed {
		if !keys[k] {
			t.Errorf("configs/doc.go documents allowed values of %s, which is not a setting", k)
		}
	}
	got, err := ConfigDoc()
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("..", "docs", "configuration.md")
	if *updateDoc {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v: generate it with go test ./configs -run TestConfigDoc -update", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: regenerate it with go test ./configs -run TestConfigDoc -update (or go generate ./configs)", path)
	}
}
