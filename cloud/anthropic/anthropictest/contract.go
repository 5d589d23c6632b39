package anthropictest

import "github.com/edgecascade/edgecascade/cloud/cloudtest"

// Fake adapts the server to the cloud contract suite: it says what the
// suite asks in Anthropic's wire format. The suite expects the server's
// default usage (Config's token counts left zero).
func (s *Server) Fake() cloudtest.Fake { return contract{s} }

type contract struct{ *Server }

func (c contract) Set(b cloudtest.Behavior) {
	f := Fault{Pieces: b.Pieces, Status: b.Status, RetryAfter: b.RetryAfter, Models: true, Hang: b.Hang, EchoHeaders: b.Echo, ToolCalls: b.ToolCalls}
	f.Cut, f.Malformed, f.ErrorEvent, f.Stall = b.Cut, b.Malformed, b.ErrorEvent, b.Stall
	if b.Length {
		f.StopReason = "max_tokens"
	}
	c.Server.Set(f)
}
