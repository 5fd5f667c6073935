//go:build linux

package lock

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Multi-process tests re-run this test binary as a helper: the parent sets
// PRWLOCK_HELPER to a name registered in helpers and passes arguments in
// PRWLOCK_ARGS (space separated). TestMain dispatches before any test runs.
var helpers = map[string]func(args []string){}

func TestMain(m *testing.M) {
	if name := os.Getenv("PRWLOCK_HELPER"); name != "" {
		f, ok := helpers[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown helper %q\n", name)
			os.Exit(2)
		}
		f(strings.Fields(os.Getenv("PRWLOCK_ARGS")))
		os.Exit(0)
	}
	before, beforeTmp := shmEntries(), tmpEntries()
	code := m.Run()
	// Nothing left behind: every test cleans up its segments and scratch
	// files, here and in the temporary directory.
	if code == 0 {
		if left := newEntries(before, shmEntries()); len(left) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: tests left files in %s: %v\n", ShmDir, left)
			code = 1
		}
		if left := newEntries(beforeTmp, tmpEntries()); len(left) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: tests left files in %s: %v\n", os.TempDir(), left)
			code = 1
		}
	}
	os.Exit(code)
}

// shmEntries lists the lock files this run could have left: named locks
// carry the test process's pid (uniqueName), anonymous ones their
// creator's. Files of other, concurrent runs are not ours to judge, except
// anonymous ones whose creator is dead and which nobody removed.
func shmEntries() map[string]bool {
	out := map[string]bool{}
	ents, _ := os.ReadDir(ShmDir)
	mine := fmt.Sprintf("%stest-%d-", NamePrefix, os.Getpid())
	for _, e := range ents {
		n := e.Name()
		switch {
		case strings.HasPrefix(n, mine):
			out[n] = true
		case strings.HasPrefix(n, anonPrefix):
			pid, _ := strconv.Atoi(strings.SplitN(strings.TrimPrefix(n, anonPrefix), ".", 2)[0])
			if pid == os.Getpid() || unix.Kill(pid, 0) == unix.ESRCH {
				out[n] = true
			}
		}
	}
	return out
}

// tmpEntries lists what this package's tests could leave in the temporary
// directory: t.TempDir folders, named after Test and Fuzz functions.
func tmpEntries() map[string]bool {
	out := map[string]bool{}
	ents, _ := os.ReadDir(os.TempDir())
	for _, e := range ents {
		if n := e.Name(); strings.HasPrefix(n, "Test") || strings.HasPrefix(n, "Fuzz") {
			out[n] = true
		}
	}
	return out
}

func newEntries(before, after map[string]bool) []string {
	var out []string
	for n := range after {
		if !before[n] {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// helperCmd prepares a helper process running helper name with args.
func helperCmd(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PRWLOCK_HELPER="+name, "PRWLOCK_ARGS="+strings.Join(args, " "),
		// Race-built helpers otherwise linger a second at exit.
		"GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	cmd.Stderr = os.Stderr
	return cmd
}

// startHelper starts a helper whose stdout the test reads line by line.
func startHelper(t testing.TB, name string, args ...string) (*exec.Cmd, *lineReader) {
	t.Helper()
	cmd, _, out := startIO(t, name, args...)
	return cmd, out
}

// startIO starts a helper with a pipe to its stdin and its stdout read line
// by line; the helper is killed when the test ends if it is still running.
func startIO(t testing.TB, name string, args ...string) (*exec.Cmd, io.WriteCloser, *lineReader) {
	t.Helper()
	cmd := helperCmd(t, name, args...)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd, in, newLineReader(out)
}

// uniqueName returns a lock name no other test or run uses.
func uniqueName(t testing.TB) string {
	n := fmt.Sprintf("test-%d-%s-%d", os.Getpid(), strings.NewReplacer("/", "-", " ", "_").Replace(t.Name()), nameSeq.Add(1))
	if len(n) > 200 {
		n = n[:200]
	}
	return n
}

var nameSeq atomic.Int64

// openTest creates a named lock removed when the test ends.
func openTest(t testing.TB, opt Options) (*Lock, string) {
	t.Helper()
	name := uniqueName(t)
	opt.Create = true
	l, err := Open(name, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		l.Close()
		Unlink(name)
	})
	return l, name
}

// sharedMem maps a small scratch file that helper processes share, for
// invariants checked inside critical sections.
type sharedMem struct {
	mem  []byte
	path string
}

func newSharedMem(t testing.TB) *sharedMem {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shared")
	if err := os.WriteFile(path, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	m := mapShared(path)
	t.Cleanup(func() { unix.Munmap(m.mem) })
	return m
}

func mapShared(path string) *sharedMem {
	fd, err := unix.Open(path, unix.O_RDWR, 0)
	if err != nil {
		panic(err)
	}
	defer unix.Close(fd)
	mem, err := unix.Mmap(fd, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		panic(err)
	}
	return &sharedMem{mem: mem, path: path}
}

func (m *sharedMem) word(i int) *int64 { return (*int64)(unsafe.Pointer(&m.mem[8*i])) }

// Words of the shared scratch memory used by the tests.
const (
	wReaders    = 0 // readers inside
	wWriters    = 1 // writers inside
	wViolations = 2 // invariant violations seen
	wOps        = 3 // critical sections completed
	wA          = 4 // two words a writer keeps equal
	wB          = 5
	wFlag       = 6 // test-specific
)

func gettid() Owner { return Owner(unix.Gettid()) }

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// lineReader reads a helper's stdout lines with timeouts.
type lineReader struct{ ch chan string }

func newLineReader(r interface{ Read([]byte) (int, error) }) *lineReader {
	lr := &lineReader{ch: make(chan string, 1024)}
	go func() {
		var buf []byte
		b := make([]byte, 4096)
		for {
			n, err := r.Read(b)
			buf = append(buf, b[:n]...)
			for {
				i := strings.IndexByte(string(buf), '\n')
				if i < 0 {
					break
				}
				lr.ch <- string(buf[:i])
				buf = buf[i+1:]
			}
			if err != nil {
				close(lr.ch)
				return
			}
		}
	}()
	return lr
}

// expect waits for the next line and checks that it starts with prefix.
func (lr *lineReader) expect(t testing.TB, prefix string, timeout time.Duration) string {
	t.Helper()
	select {
	case s, ok := <-lr.ch:
		if !ok {
			t.Fatalf("helper exited while we waited for %q", prefix)
		}
		if !strings.HasPrefix(s, prefix) {
			t.Fatalf("helper said %q, want prefix %q", s, prefix)
		}
		return s
	case <-time.After(timeout):
		t.Fatalf("helper did not say %q within %v", prefix, timeout)
	}
	return ""
}
