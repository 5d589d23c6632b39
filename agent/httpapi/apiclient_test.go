package httpapi_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/ollama/ollama/api"
)

func apiClient(t *testing.T, base string) *api.Client {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	return api.NewClient(u, http.DefaultClient)
}
