package configs

import "strings"

// Setting documents one key; the table feeds --help and docs/configuration.md
// (go generate ./configs).
type Setting struct {
	Key, Description string
}

// Env is the environment variable that overrides the setting.
func (s Setting) Env() string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(s.Key, ".", "_"))
}

// Settings is the documented table of every key.
var Settings = []Setting{
	{"listen", "host:port of the HTTP API; loopback by default"},
	{"local.backend", "local model backend: ollama, llamacpp-server (a running llama-server at local.url) or llamacpp (in-process llama.cpp; needs a binary built with -tags llamacpp)"},
	{"local.url", "the local backend's base URL (ollama, llamacpp-server)"},
	{"local.model", "local model name; for backend llamacpp the path of the GGUF file"},
	{"local.timeout", "bound on one local generation (Go duration, e.g. 120s)"},
	{"local.top_logprobs", "alternatives requested per token for scoring (0-20; the entropy scorer needs 0 or at least 2)"},
	{"local.tokenizer", "the local model's tokenizer.json, to count prompt tokens exactly against its context; empty: estimate 4 bytes a token"},
	{"local.max_concurrent", "calls (generations, probe forward passes) running at once on the local model, at least 1; match the backend's parallelism (Ollama: OLLAMA_NUM_PARALLEL, default 1)"},
	{"local.max_queue", "calls allowed to wait for the local model, 0 or more (0: no waiting); beyond it a request gets 503 with Retry-After under policy local and goes to the cloud under auto"},
	{"local.chat_template", "backend llamacpp: chat template, a known name (chatml, llama3) or a Go text/template over .Messages (.Role, .Content); empty: detected from the GGUF's tokenizer.chat_template"},
	{"local.embed_model", "the local backend's model for embeddings (/v1/embeddings, /api/embed, /api/embeddings), answered on the device, never by the cloud; empty: local.model"},
	{"cloud.provider", "cloud provider: openai (any OpenAI-compatible server) or anthropic"},
	{"cloud.base_url", "the provider's base URL; empty: the provider's own (openai: https://api.openai.com/v1, anthropic: https://api.anthropic.com)"},
	{"cloud.model", "cloud model name"},
	{"cloud.api_key", "API key; OPENAI_API_KEY or ANTHROPIC_API_KEY (by provider) is used when unset; never logged"},
	{"cloud.timeout", "bound on one cloud call attempt"},
	{"cloud.max_retries", "retries with backoff on 429 and 5xx"},
	{"cloud.cost_input_per_1k", "price of 1,000 prompt tokens of the cloud provider (for the cost metric)"},
	{"cloud.cost_output_per_1k", "price of 1,000 completion tokens of the cloud provider"},
	{"cloud.providers", "several providers in order, each tried when the one before fails; replaces the single provider above: a list of {provider, base_url, model, api_key_env, timeout, max_retries, cost_input_per_1k, cost_output_per_1k} (file only)"},
	{"cascade.scorer", "confidence scorer: mean_logprob, min_logprob, entropy, selfref, probe, combined"},
	{"cascade.threshold", "escalate when the confidence is below this; 0 never escalates on score, above 1 always escalates"},
	{"cascade.stages", "more than two stages: a list of local stages {name, backend, url, model, scorer, threshold, energy_j}, then the cloud stage {name, provider: openai|anthropic|cloud, model, base_url, api_key_env, cost_input_per_1k, cost_output_per_1k, energy_j}; the first local stage replaces local.backend/url/model and cascade.scorer/threshold, the cloud stage cloud.* (provider cloud: cloud.* as set). Empty: the two stages local.* and cloud.* (file only)"},
	{"cascade.calibration", "calibration file from edgecascade calibrate; when set it supplies the threshold and the probability map"},
	{"uq.selfref.tokens", "Self-REF confidence tokens: confident, unsure; stripped from answers and from what reaches the cloud"},
	{"uq.fallback_scorer", "scorer used when a Self-REF answer has no confidence token: mean_logprob, min_logprob, entropy"},
	{"probe.path", "answer probe (.onnx from edgecascade probe train) for cascade.scorer probe and for combined"},
	{"probe.onnxruntime_lib", "path of libonnxruntime.so.1 (onnxruntime 1.24; scripts/install-onnxruntime.sh prints it)"},
	{"probe.pregen_path", "pre-generation probe (.onnx from probe train --pregen); empty: off"},
	{"probe.pregen_threshold", "skip local generation when the pre-generation probe's probability is at most this; -1: the threshold stored in the probe file"},
	{"server.max_body_bytes", "largest accepted request body; larger gets 413"},
	{"server.shutdown_timeout", "how long shutdown waits for in-flight requests"},
	{"server.body_timeout", "bound on reading one request body once its headers are in; a client that sends it slower gets its connection closed. Answers are not bounded by it: long streams run on"},
	{"server.idle_timeout", "a keep-alive connection idle this long is closed"},
	{"server.max_connections", "connections served at once, at least 1; more wait to be accepted until one closes"},
	{"server.auth_token", "bearer token every request must carry (Authorization: Bearer ...); empty: none; never logged, never a flag"},
	{"server.auth_token_file", "file holding server.auth_token (first line); set one of the two"},
	{"server.allow_insecure_bind", "allow a non-loopback listen address without server.auth_token (logged as a warning)"},
	{"server.cors_origins", "browser origins allowed to call the API, exact (scheme://host[:port]); empty: every cross-origin browser request is refused"},
	{"server.allowed_hosts", "Host header names accepted besides localhost and loopback IPs when listening on loopback (DNS-rebinding guard)"},
	{"server.pprof", "serve Go runtime profiles (heap, goroutine, CPU) under /debug/pprof/; only with a loopback listen address; off by default"},
	{"data_dir", "folder of the daemon's database (the decision log); empty: $XDG_DATA_HOME/edgecascade or ~/.local/share/edgecascade"},
	{"log.level", "debug, info, warn or error"},
	{"log.decisions", "keep a decision log (time, policy, route, scorer, score, threshold, reason, latencies, tokens, prompt hash) in data_dir"},
	{"log.content", "also keep prompts and answers in the decision log (off by default)"},
	{"log.retention", "decision log entries older than this are deleted (Go duration, e.g. 720h)"},
	{"log.max_entries", "the decision log keeps at most this many entries, the newest, at least 1"},
	{"offline", "offline switch: never contact the cloud; auto answers locally and defers escalations (flag --offline)"},
	{"cloud.breaker.failures", "consecutive cloud failures (no answer, 429, 5xx) that open the circuit breaker: the cloud counts as unreachable"},
	{"cloud.breaker.probe_interval", "first wait between reachability probes while the breaker is open; doubles each failed probe"},
	{"cloud.breaker.max_probe_interval", "longest wait between reachability probes"},
	{"budget.calls_per_day", "cap on cloud calls per UTC day; 0: no cap. When a cap is reached the daemon behaves as offline"},
	{"budget.calls_per_month", "cap on cloud calls per UTC month; 0: no cap"},
	{"budget.tokens_per_day", "cap on cloud tokens (prompt + completion) per UTC day; 0: no cap"},
	{"budget.tokens_per_month", "cap on cloud tokens per UTC month; 0: no cap"},
	{"budget.cost_per_day", "cap on cloud cost (from the per-1K prices) per UTC day; 0: no cap"},
	{"budget.cost_per_month", "cap on cloud cost per UTC month; 0: no cap"},
	{"outbox.enabled", "keep escalations that cannot be made now (cloud out of reach, budget spent) in a durable outbox in data_dir and send them later"},
	{"outbox.drain_rate", "deferred items sent to the cloud per second at most once it is reachable"},
	{"outbox.retention", "how long answered and failed deferred items are kept (Go duration, e.g. 168h)"},
	{"outbox.max_items", "deferred items allowed to wait to be sent, at least 1; at the cap a new deferral is refused and the response's reason says so (the local answer is still returned)"},
	{"outbox.max_age", "how long a deferred item may wait to be sent; then it fails as expired, with the reason at /v1/cascade/deferred/{id} and a deferred.failed event"},
	{"adapt.enabled", "learn from deployment: labels from feedback, escalations and exploration move the threshold to keep accepted answers adapt.target right (docs/adaptation.md); state in data_dir"},
	{"adapt.target", "accuracy of accepted local answers to keep; 0: the calibration file's target, else 0.9"},
	{"adapt.confidence", "confidence of the bound on accepted accuracy (an anytime-valid confidence sequence)"},
	{"adapt.window", "decisions kept per window (the global one and each group's) for the bound"},
	{"adapt.explore_rate", "share of accepted local answers also sent to the cloud in the background to label them; never under policy local, offline or over budget; counted in the budget"},
	{"adapt.agreement", "how an escalated local answer is labelled from the cloud's: exact, normalized, numeric, or judge (one more cloud call)"},
	{"adapt.cloud_accuracy", "how often the labelling cloud is right; agreement and exploration labels are corrected by it (1: assume always, conservative)"},
	{"adapt.min_labels", "labels a window needs before its bound moves the threshold"},
	{"adapt.group_min_labels", "labels a group (X-Cascade-Group, cascade.group, or the embedding cluster of a calibration from calibrate --groups K) needs for its own threshold; the others share the global one"},
	{"resources.enabled", "apply the power and heat rules (resources.rules) to auto requests"},
	{"resources.sysfs_root", "where sysfs is mounted (battery, thermal zones, energy counters); /sys"},
	{"resources.interval", "how long one reading of battery and temperatures is reused"},
	{"resources.energy", "measure the energy of each local generation where a counter can be read (RAPL, Jetson power rails)"},
	{"resources.rules", "rules: a list of {name, on_battery, battery_below, temp_above, offline, action: prefer_cloud|skip_local|force_local} (file only)"},
}
