package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("local:\n  top_logprobs: 99\n"), 0o600)
	unknown := filepath.Join(t.TempDir(), "unknown.yaml")
	os.WriteFile(unknown, []byte("cascade:\n  treshold: 0.5\n"), 0o600)
	tests := []struct {
		args    []string
		wantOut string
		wantErr string
	}{
		{[]string{"--config", "../../configs/jetson.yaml"}, "../../configs/jetson.yaml: configuration is valid (local ollama qwen2.5:1.5b", ""},
		{[]string{"--config", "../../configs/kiosk.yaml"}, "configuration is valid", ""},
		{nil, "built-in defaults: configuration is valid", ""},
		{[]string{"--config", bad}, "", "local.top_logprobs"},
		{[]string{"--config", unknown}, "", "cascade.treshold"},
		{[]string{"--cascade.scorer", "probe"}, "", "probe.path"},
		{[]string{"--config", filepath.Join(t.TempDir(), "missing.yaml")}, "", "read config"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, _, err := run(t, nil, append([]string{"config", "validate"}, tt.args...)...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !strings.Contains(out, tt.wantOut) {
				t.Fatalf("out %q, err %v; want %q", out, err, tt.wantOut)
			}
		})
	}
}
