package openaitest

import "github.com/edgecascade/edgecascade/cloud/cloudtest"

// Fake adapts the server to the cloud contract suite: it says what the
// suite asks in OpenAI's wire format. The suite expects the server's
// default usage (Config's token counts left zero).
func (s *Server) Fake() cloudtest.Fake { return contract{s} }

type contract struct{ *Server }

func (c contract) Set(b cloudtest.Behavior) {
	f := Fault{
		Pieces: b.Pieces, Status: b.Status, RetryAfter: b.RetryAfter, Models: true,
		Cut: b.Cut, Malformed: b.Malformed, ErrorEvent: b.ErrorEvent, Stall: b.Stall, Hang: b.Hang,
		EchoHeaders: b.Echo, ToolCalls: b.ToolCalls,
	}
	if b.Length {
		f.Finish = "length"
	}
	c.Server.Set(f)
}
