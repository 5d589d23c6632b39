//go:build llamacpp

package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func engineEnv(t *testing.T) map[string]string {
	return map[string]string{
		"EDGECASCADE_LOCAL_BACKEND":       "llamacpp",
		"EDGECASCADE_LOCAL_MODEL":         testbedModel(t, "weak.gguf"),
		"EDGECASCADE_LOCAL_CHAT_TEMPLATE": "chatml",
		"EDGECASCADE_CLOUD_BASE_URL":      "http://127.0.0.1:1/v1", // not called under policy local
	}
}

// TestLocalBackendLlamaCppInProcess answers with the test bed's weak model
// loaded in this process, then in a real `serve` process.
func TestLocalBackendLlamaCppInProcess(t *testing.T) {
	env := engineEnv(t)
	out, _, err := run(t, env, "ask", "--policy", "local", "Spell rmzf backwards.")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "fzmr\n") || !strings.Contains(out, "route: local") {
		t.Fatalf("ask output:\n%s", out)
	}

	d := startServe(t, env)
	resp, err := http.Get(d.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Local struct {
			Backend, URL, Model string
			OK                  bool
		}
	}
	err = json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if h.Local.Backend != "llamacpp" || h.Local.URL != "" || h.Local.Model != env["EDGECASCADE_LOCAL_MODEL"] || !h.Local.OK {
		t.Errorf("/healthz local = %+v; want backend llamacpp, no URL, the GGUF path, ok", h.Local)
	}
	body := `{"model":"local","messages":[{"role":"user","content":"Spell rmzf backwards."}]}`
	resp, err = http.Post(d.url+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var cr struct {
		Choices []struct {
			Message struct{ Content string }
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&cr); err != nil || resp.StatusCode != 200 || len(cr.Choices) != 1 || cr.Choices[0].Message.Content != "fzmr" {
		t.Fatalf("chat: status %d, %+v, %v; want fzmr", resp.StatusCode, cr, err)
	}
}
