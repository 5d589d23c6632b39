package cascade

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/edgecascade/edgecascade/models"
)

// Structured output: a request that asks for JSON (models.Format) is
// constrained by the local backend, and under auto a local answer that does
// not parse, or does not match the schema, escalates whatever its score
// (accept's formatErr).

const schemaURL = "mem://request/schema.json"

// noLoader refuses every external reference: a schema from a request may not
// make the daemon read files or call out.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("external schema references are not allowed (%s)", url)
}

func compileSchema(schema json.RawMessage) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, err
	}
	return c.Compile(schemaURL)
}

// CheckSchema reports whether a request's JSON schema compiles.
func CheckSchema(schema json.RawMessage) error {
	_, err := compileSchema(schema)
	return err
}

// checkFormat says why content does not satisfy f (nil when it does or when
// no format was asked for): JSON mode wants a JSON object, a schema a
// document matching it.
func checkFormat(f *models.Format, content string) error {
	if f == nil {
		return nil
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(content)))
	if err != nil {
		return errors.New("the local answer is not valid JSON")
	}
	if len(f.Schema) == 0 {
		if _, ok := doc.(map[string]any); !ok {
			return errors.New("the local answer is not a JSON object")
		}
		return nil
	}
	sch, err := compileSchema(f.Schema)
	if err != nil {
		return fmt.Errorf("the request's schema does not compile: %w", err)
	}
	if err := sch.Validate(doc); err != nil {
		return errors.New("the local answer does not match the request's JSON schema")
	}
	return nil
}
