package configs

import (
	"github.com/edgecascade/edgecascade/configs/secret"

	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/spf13/viper"
)

//go:generate go run ./gendoc -out ../docs/configuration.md

// The configuration reference (docs/configuration.md) is generated from
// Settings, the Config struct (types), default.yaml (defaults) and the
// allowed values below; TestConfigDoc fails when the file is stale.

// allowed is what Validate accepts for each setting, in words. Every key of
// Settings has an entry (TestConfigDoc checks), so a new setting cannot be
// documented without one.
var allowed = map[string]string{
	"listen":                           "`host:port`; a host that is not loopback needs `server.auth_token` or `server.allow_insecure_bind`",
	"local.backend":                    "`ollama`, `llamacpp-server`, `llamacpp`",
	"local.url":                        "an `http(s)://` URL (backends `ollama`, `llamacpp-server`: its root, without `/v1`; unused by `llamacpp`)",
	"local.model":                      "not empty; backend `llamacpp`: a readable GGUF file",
	"local.timeout":                    "a Go duration, 0 or more",
	"local.top_logprobs":               "0–20",
	"local.tokenizer":                  "empty or the path of a `tokenizer.json`",
	"local.max_concurrent":             "1 or more",
	"local.max_queue":                  "0 or more",
	"local.chat_template":              "backend `llamacpp` only: empty, `chatml`, `llama3` or a Go `text/template` ending where the answer begins (as an Ollama Modelfile `TEMPLATE`); empty is an error when the GGUF has no template (the test bed GGUFs: use `chatml`)",
	"local.embed_model":                "empty (`local.model`) or a model name of the backend, without surrounding spaces; backend `llamacpp`: empty (the in-process engine computes no embeddings)",
	"cloud.provider":                   "`openai`, `anthropic`",
	"cloud.base_url":                   "empty or an `http(s)://` URL (OpenAI-compatible servers: ending in `/v1`)",
	"cloud.model":                      "not empty",
	"cloud.api_key":                    "any; never a flag",
	"cloud.timeout":                    "a Go duration above 0",
	"cloud.max_retries":                "0–10",
	"cloud.cost_input_per_1k":          "0 or more",
	"cloud.cost_output_per_1k":         "0 or more",
	"cloud.providers":                  "a list; each `provider` `openai` or `anthropic`, `model` not empty, `base_url` empty or an `http(s)://` URL, `timeout` 0 or more (0: `cloud.timeout`), `max_retries` 0–10, prices 0 or more",
	"cascade.scorer":                   "`mean_logprob`, `min_logprob`, `entropy`, `selfref`, `probe` (needs `probe.path`), `combined` (needs `cascade.calibration`)",
	"cascade.threshold":                "a number ≥ 0 (0: never escalates on score; above 1: escalates everything)",
	"cascade.stages":                   "empty, or at least two stages with unique names: local stages (`backend` of `local.backend`, `model` not empty; stages after the first: scorer `mean_logprob`, `min_logprob`, `entropy` or `selfref`, backend not `llamacpp`), then exactly one cloud stage, last; unknown keys are errors",
	"cascade.calibration":              "empty or a calibration file made for `local.model`",
	"uq.selfref.tokens":                "two different non-empty tokens (env and flag: comma-separated)",
	"uq.fallback_scorer":               "`mean_logprob`, `min_logprob`, `entropy`",
	"probe.path":                       "empty or an `.onnx` probe; needs `probe.onnxruntime_lib`",
	"probe.onnxruntime_lib":            "the path of `libonnxruntime.so.1`; required when `probe.path` or `probe.pregen_path` is set",
	"probe.pregen_path":                "empty (off) or an `.onnx` probe from `probe train --pregen`",
	"probe.pregen_threshold":           "-1 (the probe file's threshold) or a probability in [0, 1]",
	"server.max_body_bytes":            "above 0",
	"server.shutdown_timeout":          "a Go duration above 0",
	"server.body_timeout":              "a Go duration above 0",
	"server.idle_timeout":              "a Go duration above 0",
	"server.max_connections":           "1 or more",
	"server.auth_token":                "empty, or at least 16 printable ASCII characters without spaces; never a flag",
	"server.auth_token_file":           "empty, or a file whose first line is the token; not together with `server.auth_token`",
	"server.allow_insecure_bind":       "`true`, `false`",
	"server.cors_origins":              "origins `scheme://host[:port]` (http or https, no path); env and flag: comma-separated",
	"server.allowed_hosts":             "host names without scheme or port; env and flag: comma-separated",
	"server.pprof":                     "`true` only with a loopback `listen` (127.0.0.1, ::1, localhost)",
	"data_dir":                         "empty or a folder the daemon can write",
	"log.level":                        "`debug`, `info`, `warn`, `error`",
	"log.decisions":                    "`true`, `false`",
	"log.content":                      "`true`, `false`",
	"log.retention":                    "a Go duration above 0",
	"log.max_entries":                  "1 or more",
	"offline":                          "`true`, `false`",
	"cloud.breaker.failures":           "1 or more",
	"cloud.breaker.probe_interval":     "a Go duration above 0",
	"cloud.breaker.max_probe_interval": "a Go duration, at least `cloud.breaker.probe_interval`",
	"budget.calls_per_day":             "0 (no cap) or more",
	"budget.calls_per_month":           "0 (no cap) or more",
	"budget.tokens_per_day":            "0 (no cap) or more",
	"budget.tokens_per_month":          "0 (no cap) or more",
	"budget.cost_per_day":              "0 (no cap) or more",
	"budget.cost_per_month":            "0 (no cap) or more",
	"outbox.enabled":                   "`true`, `false`",
	"outbox.drain_rate":                "items per second in (0, 1000]",
	"outbox.retention":                 "a Go duration above 0",
	"outbox.max_items":                 "1 or more",
	"outbox.max_age":                   "a Go duration above 0",
	"adapt.enabled":                    "`true`, `false`",
	"adapt.target":                     "0 or a share in (0, 1)",
	"adapt.confidence":                 "a probability in (0, 1)",
	"adapt.window":                     "50 or more",
	"adapt.explore_rate":               "a share in [0, 1]",
	"adapt.agreement":                  "`exact`, `normalized`, `numeric`, `judge`",
	"adapt.cloud_accuracy":             "a share in (0.5, 1]",
	"adapt.min_labels":                 "1 or more",
	"adapt.group_min_labels":           "1 or more",
	"resources.enabled":                "`true`, `false`",
	"resources.sysfs_root":             "a folder",
	"resources.interval":               "a Go duration, 0 or more",
	"resources.energy":                 "`true`, `false`",
	"resources.rules":                  "a list; each rule a `name`, conditions `on_battery`, `battery_below` (%), `temp_above` (°C), `offline` (all that are set must hold) and an `action`: `prefer_cloud`, `skip_local`, `force_local`",
}

// SettingDoc is one setting as the configuration reference shows it.
type SettingDoc struct {
	Key, Type, Default, Env, Flag, Allowed, Description string
}

// secret reports whether the setting holds a secret: never a flag.
func (s Setting) secret() bool {
	return s.Key == "cloud.api_key" || s.Key == "server.auth_token"
}

// fileOnly reports whether the setting is a list of objects, which only a
// config file can express.
func (s Setting) fileOnly() bool {
	return s.Key == "cloud.providers" || s.Key == "resources.rules" || s.Key == "cascade.stages"
}

// Docs returns the reference of every setting, in the order of Settings.
func Docs() ([]SettingDoc, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(defaultYAML)); err != nil {
		return nil, fmt.Errorf("read defaults: %w", err)
	}
	var out []SettingDoc
	for _, s := range Settings {
		typ, err := settingType(s.Key)
		if err != nil {
			return nil, err
		}
		a, ok := allowed[s.Key]
		if !ok {
			return nil, fmt.Errorf("setting %s: no allowed values in configs/doc.go", s.Key)
		}
		d := SettingDoc{Key: s.Key, Type: typ, Default: defaultOf(v.Get(s.Key)), Env: "`" + s.Env() + "`",
			Flag: "`--" + s.Key + "`", Allowed: a, Description: s.Description}
		switch {
		case s.secret():
			d.Flag = "none (a secret)"
		case s.fileOnly():
			d.Env, d.Flag = "none (file only)", "none (file only)"
		case typ == "bool": // --offline alone turns it on
			d.Flag = "`--" + s.Key + "` (alone: true)"
		}
		out = append(out, d)
	}
	return out, nil
}

// fieldType is the Go type of the Config field at key (by mapstructure tag).
func fieldType(key string) (reflect.Type, error) {
	t := reflect.TypeOf(Config{})
	for _, part := range strings.Split(key, ".") {
		f, ok := fieldByTag(t, part)
		if !ok {
			return nil, fmt.Errorf("setting %s: no field of Config has this key", key)
		}
		t = f.Type
	}
	return t, nil
}

// settingType names the Go type of the Config field at key.
func settingType(key string) (string, error) {
	t, err := fieldType(key)
	if err != nil {
		return "", err
	}
	switch {
	case t == reflect.TypeOf(time.Duration(0)):
		return "duration", nil
	case t == reflect.TypeOf(secret.Secret("")):
		return "string (secret)", nil
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		return "list of objects", nil
	case t.Kind() == reflect.Slice:
		return "list of " + t.Elem().Kind().String(), nil
	case t.Kind() == reflect.Float64:
		return "number", nil
	case t.Kind() == reflect.Int, t.Kind() == reflect.Int64:
		return "integer", nil
	default:
		return t.Kind().String(), nil
	}
}

func fieldByTag(t reflect.Type, tag string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if f := t.Field(i); f.Tag.Get("mapstructure") == tag {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// defaultOf renders a default from default.yaml.
func defaultOf(v any) string {
	switch x := v.(type) {
	case nil:
		return "none"
	case string:
		if x == "" {
			return "empty"
		}
		return "`" + x + "`"
	case []any:
		if len(x) == 0 {
			return "empty"
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(x); err != nil {
			return fmt.Sprint(x)
		}
		return "`" + strings.TrimSpace(b.String()) + "`"
	default:
		return fmt.Sprintf("`%v`", x)
	}
}

// ConfigDoc renders docs/configuration.md.
func ConfigDoc() ([]byte, error) {
	docs, err := Docs()
	if err != nil {
		return nil, err
	}
	// Group the keys by their first part, in the order the groups first
	// appear in Settings (cloud.breaker.* joins cloud.*).
	var order []string
	groups := map[string][]SettingDoc{}
	for _, d := range docs {
		g, _, _ := strings.Cut(d.Key, ".")
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		groups[g] = append(groups[g], d)
	}
	var b bytes.Buffer
	b.WriteString(docHeader)
	b.WriteString("## Every setting\n\n| key | type | default |\n|---|---|---|\n")
	for _, g := range order {
		for _, d := range groups[g] {
			fmt.Fprintf(&b, "| [`%s`](#%s) | %s | %s |\n", d.Key, anchor(d.Key), d.Type, d.Default)
		}
	}
	b.WriteString("\n")
	for _, g := range order {
		level := "###"
		if len(groups[g]) == 1 && groups[g][0].Key == g {
			level = "##" // a top-level key: its own section
		} else {
			fmt.Fprintf(&b, "## %s\n\n", g)
		}
		for _, d := range groups[g] {
			fmt.Fprintf(&b, "%s `%s`\n\n%s.\n\n", level, d.Key, upperFirst(strings.TrimSuffix(d.Description, ".")))
			fmt.Fprintf(&b, "| type | default | env | flag |\n|---|---|---|---|\n| %s | %s | %s | %s |\n\n",
				d.Type, d.Default, d.Env, d.Flag)
			fmt.Fprintf(&b, "Allowed: %s.\n\n", d.Allowed)
		}
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// anchor is the fragment a Markdown renderer (GitHub's) gives a heading
// that is the code span key.
func anchor(key string) string {
	var sb strings.Builder
	for _, r := range strings.ToLower(key) {
		if r == '_' || r == '-' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

const docHeader = `# Configuration reference

<!-- Generated by ` + "`go generate ./configs`" + ` (go run ./configs/gendoc) from the
settings table in configs/config.go, the Config struct and configs/default.yaml.
Do not edit: TestConfigDoc fails when this file is stale; rewrite it with
go test ./configs -run TestConfigDoc -update -->

Every setting has a built-in default ([` + "`configs/default.yaml`" + `](../configs/default.yaml),
embedded in the binary). Each can be set, in increasing order of precedence:

1. in a YAML file (keys nested as in ` + "`default.yaml`" + `): the first that exists of
   ` + "`--config FILE`" + `, ` + "`$EDGECASCADE_CONFIG`" + `, ` + "`$XDG_CONFIG_HOME/edgecascade/config.yaml`" + `
   (` + "`~/.config/edgecascade/config.yaml`" + ` when ` + "`XDG_CONFIG_HOME`" + ` is unset) and
   ` + "`/etc/edgecascade/config.yaml`" + `; none: the defaults alone. A file named by ` + "`--config`" + ` or
   ` + "`EDGECASCADE_CONFIG`" + ` that does not exist is an error, and so is one found that cannot be
   read or is invalid (it is not skipped);
2. by an environment variable: ` + "`EDGECASCADE_`" + ` + the key upper-cased with ` + "`.`" + ` → ` + "`_`" + `
   (lists: comma-separated);
3. by a flag of the same name (` + "`--cascade.threshold 0.4`" + `) on every command that loads
   the configuration, typed as the setting (` + "`--help`" + ` shows ` + "`float`, `int`, `duration`, `strings`" + `;
   a bad value is an error naming the flag; lists: comma-separated or the flag repeated; a
   boolean alone means true, e.g. ` + "`--offline`" + `; off: ` + "`--outbox.enabled=false`" + `, with the ` + "`=`" + `). Shell completion (` + "`edgecascade completion bash`" + `)
   offers the allowed values of ` + "`local.backend`, `cloud.provider`, `cascade.scorer`," + `
   ` + "`uq.fallback_scorer` and `log.level`" + `.

Secrets (` + "`cloud.api_key`, `server.auth_token`" + `) are never flags (command lines show up in
` + "`ps`" + ` and shell history); lists of objects (` + "`cloud.providers`, `resources.rules`" + `) only a
file can express. An unknown key in a file is an error naming the key; a bad value is an
error naming the key and its environment variable. ` + "`edgecascade config`" + ` validates and prints the file in
force and the table;
` + "`edgecascade config validate`" + ` only validates (no network, no files the configuration
names; exit status 0 when valid); ` + "`edgecascade doctor`" + ` also checks what the settings
point at.

Example configurations, each commented for its use (` + "`configs/examples_test.go`" + ` loads
and validates each one):

| file | for |
|---|---|
| [` + "`configs/laptop.yaml`" + `](../configs/laptop.yaml) | a laptop or desktop: a 3B local model, escalation to OpenAI, the per-user data folder (with the user service) |
| [` + "`configs/jetson.yaml`" + `](../configs/jetson.yaml) | a Jetson Orin as a system service: a 1.5B model sized for an Orin Nano, longer timeouts and more retries for a mobile link, ` + "`data_dir` `/var/lib/edgecascade`" + ` (see [edge.md](edge.md)) |
| [` + "`configs/kiosk.yaml`" + `](../configs/kiosk.yaml) | an offline kiosk: every answer local, nothing leaves the device (` + "`offline: true`" + `, threshold 0, no outbox) |

`
