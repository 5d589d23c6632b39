package anthropictest

import (
	"net/http"

	"github.com/edgecascade/edgecascade/cloud/cloudtest"
)

// Fake adapts the server to the cloud contract suite: it says what the
// suite asks in Anthropic's wire format. The suite expects the server's
// default usage (Config's token counts left zero).
func (s *Server) Fake() cloudtest.Fake { return contract{s} }

type contract struct{ s *Server }

func (c contract) Set(b cloudtest.Behavior) {
	f := Fault{
		Pieces: b.Pieces, Status: b.Status, RetryAfter: b.RetryAfter, Models: true,
		Cut: b.Cut, Malformed: b.Malformed, ErrorEvent: b.ErrorEvent, Stall: b.Stall, Hang: b.Hang,
		EchoHeaders: b.Echo,
	}
	if b.Length {
		f.StopReason = "max_tokens"
	}
	c.s.Set(f)
}

func (c contract) Attempts() int { return c.s.Attempts() }

func (c contract) Last() (http.Header, []byte) {
	r := c.s.Last()
	if r == nil {
		return nil, nil
	}
	return r.Header, r.Body
}
