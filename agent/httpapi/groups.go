package httpapi

import (
	"context"

	"github.com/edgecascade/edgecascade/agent/cascade"
	"github.com/edgecascade/edgecascade/models"
)

// Grouper names the group of a request that names none itself: the nearest
// embedding cluster of its prompt (agent/grouping, from calibrate --groups).
type Grouper interface {
	Group(ctx context.Context, text string) (string, error)
}

// autoGroup gives a request of policy auto without an explicit group
// (X-Cascade-Group, cascade.group) the group of its last user message
// (ServerConfig.Grouper): one embed call. When that fails the request goes
// on in no group, under the global threshold, and the log says so.
func (s *Server) autoGroup(ctx context.Context, policy cascade.Policy, req *cascade.Request) {
	if s.cfg.Grouper == nil || req.Group != "" || policy != cascade.PolicyAuto {
		return
	}
	text := lastUserText(req.Messages)
	if text == "" {
		return
	}
	g, err := s.cfg.Grouper.Group(ctx, text)
	if err != nil {
		s.log.WarnContext(ctx, "no group from the prompt's embedding: the request uses the global threshold", "id", req.ID, "err", err)
		return
	}
	req.Group = g
}

// lastUserText is the content of the last user message, "" when none.
func lastUserText(msgs []models.Message) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "user" {
			return msgs[i].Content
		}
	}
	return ""
}
