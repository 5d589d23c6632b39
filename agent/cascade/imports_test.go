package cascade_test

import (
	"go/build"
	"slices"
	"testing"
)

// The routing core knows nothing of HTTP (the adapters live in agent/httpapi)
// nor of the configuration (the daemon builds it from one).
func TestCoreDoesNotImportHTTP(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, banned := range []string{"net/http", "github.com/edgecascade/edgecascade/agent/httpapi", "github.com/edgecascade/edgecascade/configs"} {
		if slices.Contains(pkg.Imports, banned) {
			t.Errorf("agent/cascade imports %s", banned)
		}
	}
}
