package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// decodeBody decodes the one JSON object of a request body into v. Invalid
// UTF-8, a mistyped field (named), malformed JSON and data after the object
// are a *BadRequestError; so is an unknown field (named) when strict. A
// field's own decoder may refuse its value with a *BadRequestError naming
// it, which is returned as it is.
func decodeBody(body []byte, v any, strict bool) error {
	if !utf8.Valid(body) {
		return &BadRequestError{Msg: "request body is not valid UTF-8"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		var (
			te  *json.UnmarshalTypeError
			bad *BadRequestError
		)
		switch {
		case errors.As(err, &te):
			return &BadRequestError{Msg: fmt.Sprintf("field %s has the wrong type: got JSON %s, want %s", te.Field, te.Value, te.Type), Param: te.Field}
		case errors.As(err, &bad):
			return bad
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok && strict {
			f = strings.Trim(f, `"`)
			return &BadRequestError{Msg: fmt.Sprintf("field %s is not supported", f), Param: f}
		}
		return &BadRequestError{Msg: "malformed JSON: " + err.Error()}
	}
	if dec.More() {
		return &BadRequestError{Msg: "malformed JSON: data after the request object"}
	}
	return nil
}
