// Package secret holds Secret, a string that never prints. It has no
// dependencies beyond the standard library, so that any package can hold a
// secret (an API key, a bearer token) without importing the configuration.
package secret

import (
	"fmt"
	"log/slog"
)

// Secret is a string that never prints: logs, errors and JSON show it redacted.
type Secret string

// String redacts the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// LogValue redacts the secret in log/slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText redacts the secret in JSON and YAML output.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Format redacts the secret under every fmt verb (%v, %#v, %q, even %d).
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' || (verb == 'v' && f.Flag('#')) {
		fmt.Fprintf(f, "%q", s.String())
		return
	}
	fmt.Fprint(f, s.String())
}

// Reveal returns the secret's value, for the one place that must send it.
func (s Secret) Reveal() string { return string(s) }
