// Package agent is the home of the daemon. Its parts live in the packages
// below it:
//
//   - agent/cascade: the routing core; where one request is decided
//     (decide.go), without HTTP
//   - agent/httpapi: the OpenAI- and Ollama-compatible APIs, the guard,
//     errors, metrics, events, deferred items and /healthz
//   - agent/admission: the limiter in front of the local model
//   - agent/outbox: the durable queue of deferred escalations and its drain
//   - agent/events: the event broker behind /v1/cascade/events
//   - agent/resources: power and heat rules, energy meters
//   - agent/decisionlog: the log of decisions
package agent
