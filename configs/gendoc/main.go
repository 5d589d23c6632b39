// Command gendoc writes the configuration reference (docs/configuration.md)
// from the settings table in package configs:
//
//	go run ./configs/gendoc -out docs/configuration.md
//
// or `go generate ./configs`. TestConfigDoc in package configs fails when the
// file is stale.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/edgecascade/edgecascade/configs"
)

func main() {
	out := flag.String("out", "docs/configuration.md", "file to write")
	flag.Parse()
	b, err := configs.ConfigDoc()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gendoc:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gendoc:", err)
		os.Exit(1)
	}
}
