package chattemplate

import (
	"strings"
	"testing"

	"github.com/edgecascade/edgecascade/models"
)

func TestRender(t *testing.T) {
	conv := []models.Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "What is 2 + 2?"}}
	tests := []struct {
		spec, want string
	}{
		// What Ollama renders with the test bed's Modelfile TEMPLATE.
		{"chatml", "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n"},
		{" ChatML ", "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n"},
		{"llama3", "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2 + 2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
		{"{{range .Messages}}[{{.Role}}] {{.Content}}\n{{end}}> ", "[system] Be brief.\n[user] What is 2 + 2?\n> "},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			tpl, err := Parse(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tpl.Render(conv)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Render = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		spec, want string
	}{
		{"", "empty"},
		{"vicuna", "neither a known name (chatml, llama3)"},
		{"{{range .Messages}", "parse chat template"},
		{"{{.Nope}}", "render chat template"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			_, err := Parse(tt.spec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse(%q) = %v, want an error containing %q", tt.spec, err, tt.want)
			}
		})
	}
}

func TestDetect(t *testing.T) {
	tests := []struct{ jinja, want string }{
		{"{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}", "chatml"},
		{"{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' }}", "llama3"},
		{"{{ bos_token }}[INST] {{ message['content'] }} [/INST]", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Detect(tt.jinja); got != tt.want {
			t.Errorf("Detect(%q) = %q, want %q", tt.jinja, got, tt.want)
		}
	}
}
