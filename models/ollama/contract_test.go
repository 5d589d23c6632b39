package ollama_test

import (
	"context"
	"testing"

	"github.com/edgecascade/edgecascade/models"
	"github.com/edgecascade/edgecascade/models/modeltest"
	"github.com/edgecascade/edgecascade/models/ollama"
	"github.com/edgecascade/edgecascade/models/ollama/ollamatest"
)

// TestContract runs the local-backend contract against a real Ollama
// serving the test bed's weak model.
func TestContract(t *testing.T) {
	s := ollamatest.New(t, ollamatest.Weak)
	client := func(t *testing.T, model string) *ollama.Client {
		c, err := ollama.New(ollama.Config{URL: s.URL, Model: model})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	modeltest.Run(t, func(t *testing.T) models.Model { return client(t, ollamatest.Weak) }, modeltest.Options{
		Question: []models.Message{{Role: "user", Content: "Spell rmzf backwards."}},
		Other:    []models.Message{{Role: "user", Content: "What is the capital of Osninax?"}},
		Missing: func(t *testing.T) error {
			_, err := client(t, "no-such-model").Chat(context.Background(), models.Request{Messages: []models.Message{{Role: "user", Content: "hi"}}})
			return err
		},
	})
}
