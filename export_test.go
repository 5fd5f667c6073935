package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"
)

// TestExportsRecover checks that every //export function starts with
// "defer recoverTo(&rc)", so that no Go panic can cross into C.
func TestExportsRecover(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "export.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Doc == nil || !hasExport(fn) {
			continue
		}
		n++
		res := fn.Type.Results
		if res == nil || len(res.List) != 1 || len(res.List[0].Names) != 1 || res.List[0].Names[0].Name != "rc" {
			t.Errorf("%s: result must be named rc", fn.Name.Name)
			continue
		}
		if len(fn.Body.List) == 0 {
			t.Errorf("%s: empty body", fn.Name.Name)
			continue
		}
		def, ok := fn.Body.List[0].(*ast.DeferStmt)
		if !ok {
			t.Errorf("%s: first statement is not a defer", fn.Name.Name)
			continue
		}
		call, ok := def.Call.Fun.(*ast.Ident)
		if !ok || call.Name != "recoverTo" || len(def.Call.Args) != 1 {
			t.Errorf("%s: first statement is not defer recoverTo(&rc)", fn.Name.Name)
			continue
		}
		arg, ok := def.Call.Args[0].(*ast.UnaryExpr)
		if !ok || arg.Op != token.AND {
			t.Errorf("%s: first statement is not defer recoverTo(&rc)", fn.Name.Name)
			continue
		}
		if id, ok := arg.X.(*ast.Ident); !ok || id.Name != "rc" {
			t.Errorf("%s: first statement is not defer recoverTo(&rc)", fn.Name.Name)
		}
	}
	if want := 19; n != want {
		t.Errorf("found %d //export functions, want %d (update the count when adding one)", n, want)
	}
}

func hasExport(fn *ast.FuncDecl) bool {
	for _, c := range fn.Doc.List {
		if strings.HasPrefix(c.Text, "//export ") {
			return true
		}
	}
	return false
}
