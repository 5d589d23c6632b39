package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Names of the files WriteDir writes besides the plots.
const (
	MarkdownFile = "report.md"
	JSONFile     = "report.json"
)

// Files lists every file WriteDir writes, relative to its directory.
func Files() []string {
	files := []string{MarkdownFile, JSONFile}
	for _, p := range []string{PlotAccuracy, PlotRiskCoverage, PlotReliability} {
		files = append(files, p+".png", p+".svg")
	}
	return files
}

// WriteDir writes the report into dir, creating it if needed: report.md,
// report.json and each plot as PNG and SVG (see Files). Existing files of
// those names are replaced.
func (r *Report) WriteDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	js, err := r.JSON()
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := writeFile(dir, JSONFile, js); err != nil {
		return err
	}
	if err := writeFile(dir, MarkdownFile, []byte(r.Markdown())); err != nil {
		return err
	}
	plots, err := r.plots()
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	for _, p := range plots {
		png, err := renderPNG(p.plot)
		if err != nil {
			return fmt.Errorf("write report: plot %s: %w", p.name, err)
		}
		if err := writeFile(dir, p.name+".png", png); err != nil {
			return err
		}
		svg, err := renderSVG(p.plot)
		if err != nil {
			return fmt.Errorf("write report: plot %s: %w", p.name, err)
		}
		if err := writeFile(dir, p.name+".svg", svg); err != nil {
			return err
		}
	}
	return nil
}

// JSON returns the report as indented JSON with a trailing newline.
func (r *Report) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode report json: %w", err)
	}
	return append(b, '\n'), nil
}

// writeFile writes data to dir/name through a temporary file, so that a
// reader never sees a half-written file.
func writeFile(dir, name string, data []byte) error {
	tmp, err := os.CreateTemp(dir, "."+name+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}
