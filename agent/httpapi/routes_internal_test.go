package httpapi

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestRoutesOnlyFromTable reads the daemon's HTTP code (this package and
// cmd/edgecascade): the only registration of a route is the one in Handler,
// in its loop over the route table, so TestGuardEveryRoute walks every route
// the daemon serves. A mux of its own, a Handle or HandleFunc call elsewhere
// (an outer mux around the guarded handler, as /debug/pprof once was), or
// net/http/pprof imported outside this package fails it.
func TestRoutesOnlyFromTable(t *testing.T) {
	type site struct{ file, fn, call string }
	var sites []site
	inTableLoop := 0
	for _, dir := range []string{".", filepath.Join("..", "..", "cmd", "edgecascade")} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			t.Fatalf("no Go files in %s", dir)
		}
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, src, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				if p, _ := strconv.Unquote(imp.Path.Value); p == "net/http/pprof" && dir != "." {
					t.Errorf("%s imports net/http/pprof: the profiles are routes of agent/httpapi (ServerConfig.Pprof)", path)
				}
			}
			for _, decl := range f.Decls {
				fd, ok := decl.(*ast.FuncDecl)
				if !ok || fd.Body == nil {
					continue
				}
				ast.Inspect(fd.Body, func(n ast.Node) bool {
					if rs, ok := n.(*ast.RangeStmt); ok && fd.Name.Name == "Handler" && isRoutesCall(rs.X) {
						ast.Inspect(rs.Body, func(n ast.Node) bool {
							if name := registration(n); name == "Handle" {
								inTableLoop++
							}
							return true
						})
					}
					if name := registration(n); name != "" {
						sites = append(sites, site{path, fd.Name.Name, name})
					}
					return true
				})
			}
		}
	}
	// One NewServeMux and one Handle, both in Server.Handler, the Handle in
	// the loop over the table.
	if inTableLoop != 1 {
		t.Errorf("want one Handle call in Handler's loop over s.Routes(), found %d", inTableLoop)
	}
	var newMux, handle int
	for _, s := range sites {
		switch {
		case s.fn != "Handler" || !strings.HasSuffix(s.file, "server.go") || filepath.Dir(s.file) != ".":
			t.Errorf("%s: %s registers routes outside the route table (%s)", s.file, s.fn, s.call)
		case s.call == "NewServeMux":
			newMux++
		case s.call == "Handle":
			handle++
		default:
			t.Errorf("%s: %s calls %s: register through the route table", s.file, s.fn, s.call)
		}
	}
	if newMux != 1 || handle != 1 {
		t.Errorf("Handler: %d NewServeMux and %d Handle calls, want 1 and 1", newMux, handle)
	}
}

// registration names n when it is a call that makes a mux or registers a
// route on one: NewServeMux, Handle, HandleFunc (any receiver, http's
// package-level ones included).
func registration(n ast.Node) string {
	call, ok := n.(*ast.CallExpr)
	if !ok {
		return ""
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return ""
	}
	switch sel.Sel.Name {
	case "NewServeMux", "Handle", "HandleFunc":
		return sel.Sel.Name
	}
	return ""
}

// isRoutesCall reports whether x is s.Routes().
func isRoutesCall(x ast.Expr) bool {
	call, ok := x.(*ast.CallExpr)
	if !ok {
		return false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "Routes"
}
