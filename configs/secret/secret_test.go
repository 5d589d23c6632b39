package secret_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/edgecascade/edgecascade/configs/secret"
)

// TestRedacted: a Secret never prints, alone or nested in a struct, in slog
// (text and JSON), JSON or any fmt verb; Reveal gives it back.
func TestRedacted(t *testing.T) {
	const value = "sk-test-REDACT-0001"
	s := secret.Secret(value)
	if s.Reveal() != value {
		t.Fatalf("Reveal %q, want %q", s.Reveal(), value)
	}
	type holder struct {
		Name  string
		Token secret.Secret
	}
	h := holder{Name: "n", Token: s}
	var buf strings.Builder
	for _, hd := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		slog.New(hd).Info("msg", "secret", s, "holder", h)
	}
	js, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	out := buf.String() + string(js) +
		fmt.Sprintf("%v %+v %#v %s %d %x %X %q %10.4s %v %+v %#v", s, s, s, s, s, s, s, s, s, h, h, h) +
		fmt.Errorf("wrapped: %v", s).Error()
	if strings.Contains(out, "REDACT-") {
		t.Fatalf("the secret printed:\n%s", out)
	}
	if !strings.Contains(out, "[redacted]") {
		t.Fatalf("no redaction marker:\n%s", out)
	}
	if got := secret.Secret("").String(); got != "" {
		t.Fatalf("empty secret prints %q, want nothing", got)
	}
}
