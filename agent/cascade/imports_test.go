package cascade_test

import (
	"go/build"
	"slices"
	"testing"
)

// The routing core knows nothing of HTTP: the adapters live in agent/httpapi.
func TestCoreDoesNotImportHTTP(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, banned := range []string{"net/http", "github.com/edgecascade/edgecascade/agent/httpapi"} {
		if slices.Contains(pkg.Imports, banned) {
			t.Errorf("agent/cascade imports %s", banned)
		}
	}
}
