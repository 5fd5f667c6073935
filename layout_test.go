package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"go/ast"
	"go/build"
	"go/constant"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/prwlock/prwlock/lock"
)

// The C data plane reads the segment through prw_layout.h. These tests hold
// that header to lock/layout.go: same names (camelCase -> PRWL_UPPER_SNAKE),
// same values as the C compiler sees them, and offsets that match segments
// the Go engine really creates.

const layoutHeader = "prw_layout.h"

// goConsts type-checks package lock (non-test files for this platform) and
// returns its package-level integer constants, and the names of those
// declared in layout.go.
func goConsts(t *testing.T) (vals map[string]constant.Value, inLayout []string) {
	t.Helper()
	fset := token.NewFileSet()
	ctx := build.Default
	ctx.CgoEnabled = false
	pkg, err := ctx.ImportDir("lock", 0)
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, name := range pkg.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join("lock", name), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	// No imports are resolved: the constants we need do not depend on
	// them, so the type errors that follow are ignored.
	conf := types.Config{Importer: noImports{}, Error: func(error) {}}
	info := &types.Info{Defs: map[*ast.Ident]types.Object{}}
	conf.Check("lock", fset, files, info)
	vals = map[string]constant.Value{}
	for id, obj := range info.Defs {
		c, ok := obj.(*types.Const)
		if !ok || c.Pkg() == nil || c.Parent() != c.Pkg().Scope() {
			continue // not a package-level constant
		}
		if c.Val().Kind() != constant.Int {
			continue
		}
		vals[c.Name()] = c.Val()
		if filepath.Base(fset.Position(id.Pos()).Filename) == "layout.go" {
			inLayout = append(inLayout, c.Name())
		}
	}
	if len(inLayout) < 40 {
		t.Fatalf("found only %d constants in lock/layout.go", len(inLayout))
	}
	slices.Sort(inLayout)
	return vals, inLayout
}

type noImports struct{}

func (noImports) Import(path string) (*types.Package, error) {
	return nil, fmt.Errorf("not resolving %s", path)
}

// cName maps a Go constant name to its prw_layout.h name.
func cName(goName string) string {
	r := []rune(goName)
	var b strings.Builder
	b.WriteString("PRWL_")
	for i, c := range r {
		if i > 0 && unicode.IsUpper(c) {
			prevLower := unicode.IsLower(r[i-1]) || unicode.IsDigit(r[i-1])
			nextLower := i+1 < len(r) && unicode.IsLower(r[i+1])
			if prevLower || (unicode.IsUpper(r[i-1]) && nextLower) {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToUpper(c))
	}
	return b.String()
}

func TestCName(t *testing.T) {
	for g, c := range map[string]string{
		"offState": "PRWL_OFF_STATE", "attPID": "PRWL_ATT_PID", "layoutVersion": "PRWL_LAYOUT_VERSION",
		"stateWriterMask": "PRWL_STATE_WRITER_MASK", "MaxCapacity": "PRWL_MAX_CAPACITY",
	} {
		if got := cName(g); got != c {
			t.Errorf("cName(%q) = %q, want %q", g, got, c)
		}
	}
}

var defineRE = regexp.MustCompile(`(?m)^#define (PRWL_[A-Z0-9_]+)\b`)

// headerDefines lists the PRWL_ macros of the header.
func headerDefines(t *testing.T) []string {
	src, err := os.ReadFile(layoutHeader)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range defineRE.FindAllSubmatch(src, -1) {
		out = append(out, string(m[1]))
	}
	return out
}

// cValues compiles a program that prints each macro of names as the C
// compiler evaluates it, plus prwl_layout_for for each capacity, and
// returns its output lines as name -> value.
func cValues(t *testing.T, names []string, capacities []int) map[string]string {
	t.Helper()
	dir := t.TempDir()
	var src bytes.Buffer
	src.WriteString("#include <stdio.h>\n#include \"" + layoutHeader + "\"\nint main(void) {\n")
	for _, n := range names {
		// Print as unsigned 64-bit: every value is a non-negative integer.
		fmt.Fprintf(&src, "  printf(\"%s %%llu\\n\", (unsigned long long)(%s));\n", n, n)
	}
	src.WriteString("  uint64_t s, a, z;\n  (void)s, (void)a, (void)z;\n")
	for _, c := range capacities {
		fmt.Fprintf(&src, "  prwl_layout_for(%d, &s, &a, &z);\n", c)
		fmt.Fprintf(&src, "  printf(\"layout%d %%llu,%%llu,%%llu\\n\", (unsigned long long)s, (unsigned long long)a, (unsigned long long)z);\n", c)
	}
	src.WriteString("  return 0;\n}\n")
	cfile := filepath.Join(dir, "layout.c")
	if err := os.WriteFile(cfile, src.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cc := os.Getenv("CC")
	if cc == "" {
		out, err := exec.Command("go", "env", "CC").Output()
		if err != nil {
			t.Fatalf("go env CC: %v", err)
		}
		cc = strings.TrimSpace(string(out))
	}
	wd, _ := os.Getwd()
	bin := filepath.Join(dir, "layout")
	args := append(strings.Fields(cc)[1:], "-std=gnu11", "-Wall", "-Werror", "-I", wd, "-o", bin, cfile)
	if out, err := exec.Command(strings.Fields(cc)[0], args...).CombinedOutput(); err != nil {
		t.Fatalf("compiling against %s: %v\n%s", layoutHeader, err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		vals[k] = v
	}
	return vals
}

// TestLayoutHeaderMatchesGo: every constant of layout.go has its C twin
// with the same value, and every PRWL_ macro names a constant of package
// lock.
func TestLayoutHeaderMatchesGo(t *testing.T) {
	vals, inLayout := goConsts(t)
	byC := map[string]string{}
	for g := range vals {
		byC[cName(g)] = g
	}
	defined := headerDefines(t)
	for _, g := range inLayout {
		if !slices.Contains(defined, cName(g)) {
			t.Errorf("layout.go's %s has no %s in %s", g, cName(g), layoutHeader)
		}
	}
	var names []string
	for _, c := range defined {
		if _, ok := byC[c]; !ok {
			t.Errorf("%s defines %s, which matches no constant of package lock", layoutHeader, c)
			continue
		}
		names = append(names, c)
	}
	got := cValues(t, names, nil)
	for _, c := range names {
		want := vals[byC[c]]
		if constant.Sign(want) < 0 {
			t.Errorf("%s = %s is negative; the check prints unsigned values", byC[c], want)
			continue
		}
		w, _ := constant.Uint64Val(want)
		if got[c] != strconv.FormatUint(w, 10) {
			t.Errorf("%s = %s in C, but %s = %d in Go", c, got[c], byC[c], w)
		}
	}
}

// TestLayoutHeaderMatchesSegments checks prwl_layout_for and the slot and
// attachment offsets against segments the Go engine created: the file size,
// our attachment entry, and the one slot a read hold marks.
func TestLayoutHeaderMatchesSegments(t *testing.T) {
	caps := []int{64, 128, 640, 4096}
	names := []string{"PRWL_OFF_BITMAP", "PRWL_SLOT_SIZE", "PRWL_SLOT_CTL", "PRWL_ATTACH_SIZE",
		"PRWL_ATT_PID", "PRWL_SLOT_READ", "PRWL_OFF_CAPACITY"}
	c := cValues(t, names, caps)
	num := func(k string) int {
		v, err := strconv.Atoi(c[k])
		if err != nil {
			t.Fatalf("%s: %q", k, c[k])
		}
		return v
	}
	slotSize, attSize := num("PRWL_SLOT_SIZE"), num("PRWL_ATTACH_SIZE")
	for _, capacity := range caps {
		parts := strings.Split(c[fmt.Sprintf("layout%d", capacity)], ",")
		slotOff, _ := strconv.Atoi(parts[0])
		attOff, _ := strconv.Atoi(parts[1])
		size, _ := strconv.Atoi(parts[2])
		name := fmt.Sprintf("layouttest-%d-%d", os.Getpid(), capacity)
		l, err := lock.Open(name, lock.Options{Create: true, Exclusive: true, Capacity: capacity})
		if err != nil {
			t.Fatal(err)
		}
		func() {
			defer lock.Unlink(name)
			defer l.Close()
			if err := l.Acquire(7, lock.ModeRead, 0); err != nil {
				t.Fatal(err)
			}
			defer l.Release(7)
			mem, err := os.ReadFile(l.Path())
			if err != nil {
				t.Fatal(err)
			}
			if len(mem) != size {
				t.Errorf("capacity %d: file is %d bytes, prwl_layout_for says %d", capacity, len(mem), size)
				return
			}
			if got := int(ne32(mem[num("PRWL_OFF_CAPACITY"):])); got != capacity {
				t.Errorf("capacity %d: header says %d", capacity, got)
			}
			reading := 0
			for i := 0; i < capacity; i++ {
				ctl := ne64(mem[slotOff+i*slotSize+num("PRWL_SLOT_CTL"):])
				if uint32(ctl) == uint32(num("PRWL_SLOT_READ")) {
					reading++
					if mem[num("PRWL_OFF_BITMAP")+i/8]&(1<<(i%8)) == 0 {
						t.Errorf("capacity %d: slot %d reads but its bitmap bit is clear", capacity, i)
					}
				}
			}
			if reading != 1 {
				t.Errorf("capacity %d: %d slots in state slotRead at slotOff %d, want 1", capacity, reading, slotOff)
			}
			attached := 0
			for i := 0; i < capacity; i++ {
				if ne32(mem[attOff+i*attSize+num("PRWL_ATT_PID"):]) == uint32(os.Getpid()) {
					attached++
				}
			}
			if attached != 1 {
				t.Errorf("capacity %d: %d attachment entries of ours at attOff %d, want 1", capacity, attached, attOff)
			}
		}()
	}
}

func ne32(b []byte) uint32 { return binary.NativeEndian.Uint32(b) }
func ne64(b []byte) uint64 { return binary.NativeEndian.Uint64(b) }
