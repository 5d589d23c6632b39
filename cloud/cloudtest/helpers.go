package cloudtest

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/edgecascade/edgecascade/cloud"
	"github.com/edgecascade/edgecascade/models"
)

// Question is the request the suite asks: a system prompt and a user
// question, a token cap and temperature 0.
func Question() cloud.Request {
	temp := 0.0
	return cloud.Request{
		Messages: []models.Message{
			{Role: "system", Content: "Be brief."},
			{Role: "user", Content: "Capital of France?"},
		},
		MaxTokens:   64,
		Temperature: &temp,
	}
}

// RefusedURL returns a loopback URL where nothing listens. The port is
// taken on 127.0.0.2, not 127.0.0.1: a test server started meanwhile (on
// 127.0.0.1:0, as httptest does) may get the same port number, and must
// not answer what was meant to be refused.
func RefusedURL(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return "http://" + addr
}

// CheckError checks that err is a *cloud.Error naming provider, with the
// HTTP status (0: no answer came), classified as every provider must:
// cloud.ErrUnavailable when there was no answer, a 429 or a 5xx, and not for
// another 4xx (a rejection of the request itself). The message names the
// provider and the status.
func CheckError(t testing.TB, err error, provider string, status int) *cloud.Error {
	t.Helper()
	if err == nil {
		t.Fatal("want error, got nil")
	}
	var ce *cloud.Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *cloud.Error, got %T: %v", err, err)
	}
	if ce.Provider != provider {
		t.Errorf("provider = %q, want %s", ce.Provider, provider)
	}
	if ce.Status != status {
		t.Errorf("status = %d, want %d (err: %v)", ce.Status, status, err)
	}
	wantUnavailable := status == 0 || status == 429 || status >= 500
	if errors.Is(err, cloud.ErrUnavailable) != wantUnavailable {
		t.Errorf("errors.Is(err, cloud.ErrUnavailable) = %v, want %v: %v", !wantUnavailable, wantUnavailable, err)
	}
	if !strings.Contains(err.Error(), provider) {
		t.Errorf("message does not name the provider: %v", err)
	}
	if status != 0 && !strings.Contains(err.Error(), fmt.Sprint(status)) {
		t.Errorf("message does not name the status: %v", err)
	}
	return ce
}

// NoSecret fails if secret appears in err's message, anywhere in its chain,
// or in err formatted with %v, %+v or %#v.
func NoSecret(t testing.TB, err error, secret string) {
	t.Helper()
	for stack := []error{err}; len(stack) > 0; {
		e := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if e == nil {
			continue
		}
		if strings.Contains(e.Error(), secret) {
			t.Errorf("API key in error message: %q", e.Error())
		}
		if u, ok := e.(interface{ Unwrap() error }); ok {
			stack = append(stack, u.Unwrap())
		}
		if u, ok := e.(interface{ Unwrap() []error }); ok {
			stack = append(stack, u.Unwrap()...)
		}
	}
	NotFormatted(t, secret, err)
}

// NotFormatted fails if secret appears in any of values formatted with %v,
// %+v or %#v.
func NotFormatted(t testing.TB, secret string, values ...any) {
	t.Helper()
	for _, v := range values {
		for _, s := range []string{fmt.Sprint(v), fmt.Sprintf("%+v", v), fmt.Sprintf("%#v", v)} {
			if strings.Contains(s, secret) {
				t.Errorf("API key printed: %s", s)
			}
		}
	}
}

// Echo describes a request, its headers (credentials included) sorted: what
// a fake server that leaks what it was sent puts in its error message.
func Echo(r *http.Request) string {
	var hs []string
	for k, v := range r.Header {
		hs = append(hs, k+": "+strings.Join(v, ","))
	}
	sort.Strings(hs)
	return "rejected request " + r.Method + " " + r.URL.Path + " with headers " + strings.Join(hs, "; ")
}

// Refuse closes a request's connection without an answer, as a server
// that is going away does.
func Refuse(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// Outcome is what a provider's own test table expects of one call.
type Outcome struct {
	Provider string          // the provider's name, in its errors
	Key      string          // its API key, which no error may show
	Want     *cloud.Response // the answer, when the call succeeds
	Status   int             // the *cloud.Error's HTTP status, when it fails
	Err      string          // text the error contains, when it fails
	FnErr    error           // the delta func's error, when that ends the call
}

// CheckOutcome checks a call's answer and error against o: the delta func's
// error as it is (not a provider failure); or a provider failure as
// CheckError says, without the key, and no partial answer; or the answer.
func CheckOutcome(t testing.TB, resp *cloud.Response, err error, o Outcome) {
	t.Helper()
	switch {
	case o.FnErr != nil:
		if !errors.Is(err, o.FnErr) {
			t.Fatalf("err = %v, want %v", err, o.FnErr)
		}
		var ce *cloud.Error
		if errors.As(err, &ce) {
			t.Errorf("a delta func error is not a provider failure: %v", err)
		}
	case o.Err != "" || o.Status != 0:
		if resp != nil {
			t.Errorf("partial response returned with the error: %+v", resp)
		}
		CheckError(t, err, o.Provider, o.Status)
		if !strings.Contains(err.Error(), o.Err) {
			t.Errorf("error %q does not contain %q", err, o.Err)
		}
		NoSecret(t, err, o.Key)
	default:
		if err != nil {
			t.Fatalf("call: %v", err)
		}
		if !reflect.DeepEqual(*resp, *o.Want) {
			t.Errorf("response = %+v, want %+v", *resp, *o.Want)
		}
	}
}
