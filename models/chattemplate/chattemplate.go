// Package chattemplate renders a chat conversation into the prompt text a
// model was trained on, for backends that tokenize the prompt themselves
// (the in-process llama.cpp engine). A template is a known name ("chatml")
// or a Go text/template over the conversation, in the same shape as an
// Ollama Modelfile TEMPLATE:
//
//	{{- range .Messages }}<|im_start|>{{ .Role }}
//	{{ .Content }}<|im_end|>
//	{{ end }}<|im_start|>assistant
//
// The rendered text ends where the assistant's answer begins.
package chattemplate

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/template"

	"github.com/edgecascade/edgecascade/models"
)

// ChatML is the ChatML format (Qwen, the test bed models): the same text
// Ollama renders with the test bed's Modelfile TEMPLATE.
const ChatML = `{{- range .Messages }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
`

// Llama3 is the Llama 3 instruct format, without <|begin_of_text|>: that is
// the model's BOS token, which the tokenizer adds when the model asks for it.
const Llama3 = `
{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>

{{ .Content }}<|eot_id|>
{{- end }}<|start_header_id|>assistant<|end_header_id|>

`

// known maps a template name to its text.
var known = map[string]string{
	"chatml": ChatML,
	"llama3": Llama3,
}

// Names lists the known template names, sorted.
func Names() []string {
	out := make([]string, 0, len(known))
	for n := range known {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Template is a parsed chat template.
type Template struct {
	name string
	t    *template.Template
}

// Parse returns the template for spec: a known name (see Names) or the text
// of a Go text/template. Anything else is an error that lists the names.
func Parse(spec string) (*Template, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, errors.New("chat template is empty")
	}
	name, text := "custom", spec
	if k, ok := known[strings.ToLower(strings.TrimSpace(spec))]; ok {
		name, text = strings.ToLower(strings.TrimSpace(spec)), k
	} else if !strings.Contains(spec, "{{") {
		return nil, fmt.Errorf("chat template %q is neither a known name (%s) nor a Go template", spec, strings.Join(Names(), ", "))
	}
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("parse chat template: %w", err)
	}
	// A template that cannot render a simple conversation would fail on
	// every request: fail here instead.
	tpl := &Template{name: name, t: t}
	if _, err := tpl.Render([]models.Message{{Role: "user", Content: "hi"}}); err != nil {
		return nil, err
	}
	return tpl, nil
}

// Detect picks a known template from a model's own Jinja chat template (the
// GGUF key tokenizer.chat_template), by the special tokens it uses. It
// returns "" when it does not recognize the format.
func Detect(jinja string) string {
	switch {
	case strings.Contains(jinja, "<|im_start|>"):
		return "chatml"
	case strings.Contains(jinja, "<|start_header_id|>"):
		return "llama3"
	default:
		return ""
	}
}

// Name is the template's name: a known name, or "custom".
func (t *Template) Name() string { return t.name }

// Render renders the conversation up to where the assistant's answer
// begins. The template sees .Messages, each with .Role and .Content.
func (t *Template) Render(msgs []models.Message) (string, error) {
	var sb strings.Builder
	data := struct{ Messages []models.Message }{Messages: msgs}
	if err := t.t.Execute(&sb, data); err != nil {
		return "", fmt.Errorf("render chat template: %w", err)
	}
	return sb.String(), nil
}
