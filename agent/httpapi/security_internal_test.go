package httpapi

import (
	"context"
	"testing"
)

func TestLoopbackListen(t *testing.T) {
	tests := []struct {
		addr     string
		loopback bool
		err      bool
	}{
		{"127.0.0.1:8088", true, false},
		{"127.8.9.10:0", true, false},
		{"[::1]:8088", true, false},
		{"localhost:8088", true, false},
		{"0.0.0.0:8088", false, false},
		{"[::]:8088", false, false},
		{":8088", false, false},
		{"192.0.2.7:8088", false, false},
		{"[2001:db8::1]:8088", false, false},
		{"no port", false, true},
		{"no-such-host.invalid:8088", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			got, err := LoopbackListen(context.Background(), tc.addr)
			if (err != nil) != tc.err || got != tc.loopback {
				t.Fatalf("LoopbackListen(%q) = %v, %v; want %v, error %v", tc.addr, got, err, tc.loopback, tc.err)
			}
		})
	}
}

func TestHostAllowed(t *testing.T) {
	hosts := map[string]bool{"localhost": true, "my.box": true}
	for host, want := range map[string]bool{
		"127.0.0.1:8088": true, "127.0.0.1": true, "[::1]:8088": true, "[::1]": true, "localhost": true, "LocalHost.:8088": true,
		"my.box:1": true, "": false, "evil.example": false, "localhost.evil.example": false, "127.0.0.1.nip.io": false,
		"0.0.0.0:8088": false, "[::]:8088": false, "10.0.0.1": false, "[::ffff:127.0.0.1]:80": true,
	} {
		if got := hostAllowed(host, hosts); got != want {
			t.Errorf("hostAllowed(%q) = %v, want %v", host, got, want)
		}
	}
}
