package report

import (
	"errors"
	"fmt"
	"slices"

	"github.com/edgecascade/edgecascade/uq/calib"
)

// defined turns a metric that may be undefined on one-class data into a
// pointer: nil for ErrOneClass, the error for anything else.
func defined(v float64, err error) (*float64, error) {
	if errors.Is(err, calib.ErrOneClass) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// oneClass says which single class the samples are in.
func oneClass(samples []calib.Sample) string {
	if slices.ContainsFunc(samples, func(s calib.Sample) bool { return s.Correct }) {
		return "all right"
	}
	return "all wrong"
}

// calibratorName names a calibrator for the report.
func calibratorName(c calib.Calibrator) string {
	switch c.(type) {
	case nil:
		return "none"
	case calib.Isotonic, *calib.Isotonic:
		return "isotonic"
	case calib.Platt, *calib.Platt:
		return "platt"
	default:
		return fmt.Sprintf("%T", c)
	}
}

// ptr returns a pointer to a copy of v.
func ptr[T any](v T) *T { return &v }
