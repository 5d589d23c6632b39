package main

import (
	"strings"
	"testing"
)

func TestCheckGroupsFlag(t *testing.T) {
	tests := []struct {
		groups          int
		fromLog, stages bool
		want            string
	}{
		{0, true, true, ""},
		{3, false, false, ""},
		{-1, false, false, "negative"},
		{3, true, false, "--groups needs --data"},
		{3, false, true, "cascade.stages"},
	}
	for _, tt := range tests {
		err := checkGroupsFlag(tt.groups, tt.fromLog, tt.stages)
		if (tt.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("checkGroupsFlag(%d, %v, %v) = %v, want %q", tt.groups, tt.fromLog, tt.stages, err, tt.want)
		}
	}
}
