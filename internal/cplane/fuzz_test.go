//go:build linux && cgo

package cplane

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/prwlock/prwlock/lock"
)

// FuzzCPlaneMemory is lock's FuzzSegmentMemory for the C data plane: it
// lays arbitrary bytes over a segment whose header is valid (everything a
// hostile or buggy process could write: lock word, futex words, bitmap,
// holder table, attachments) and runs the C engine's operations over it,
// with the Go engine's inspection and recovery in between. They must never
// crash, hang or touch memory outside the segment, and may only fail with
// the documented errors. Its seeds include every input lock's fuzzer kept.
func FuzzCPlaneMemory(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 8192))
	held := make([]byte, 8192)
	binary.NativeEndian.PutUint32(held[offState:], 5|1<<16)
	f.Add(held)
	corrupt := make([]byte, 8192)
	for i := range corrupt {
		corrupt[i] = byte(i*7 + 3)
	}
	f.Add(corrupt)
	for _, seed := range lockCorpus(f) {
		f.Add(seed)
	}
	name := fmt.Sprintf("cplane-fuzz-%d", os.Getpid())
	l, err := lock.Open(name, lock.Options{Create: true, Exclusive: true, Capacity: capacity})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { l.Close(); lock.Unlink(name) })
	m, err := l.Mapping()
	if err != nil {
		f.Fatal(err)
	}
	mem := unsafe.Slice((*byte)(m.Base), m.Size)
	hdr := append([]byte(nil), mem[:offState]...)
	allowed := map[int]bool{0: true}
	for _, e := range []syscall.Errno{syscall.EBUSY, syscall.EOWNERDEAD, syscall.EAGAIN, syscall.EPROTO,
		syscall.EPERM, syscall.EDEADLK, syscall.ENOTRECOVERABLE, syscall.EINTR} {
		allowed[int(e)] = true
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// The segment is reused: the data replaces all of it, as in lock's
		// fuzzer, and then the header is made valid again.
		n := copy(mem, data)
		clear(mem[n:])
		copy(mem, hdr)
		c := New(m)
		defer c.Free()
		check := func(what string, rc int) {
			if !allowed[rc] {
				t.Fatalf("%s: unexpected error %d (%v)", what, rc, syscall.Errno(rc))
			}
		}
		for o := uint32(1); o <= 3; o++ {
			check("try read", c.Acquire(o, Read, 0, 0))
		}
		check("try write", c.Acquire(4, Write, 0, 0))
		check("downgrade", c.Downgrade(4))
		check("slice write", c.Acquire(6, Write, Now()+int64(3600e9), 1))
		check("slice read", c.Acquire(7, Read, Now()+int64(3600e9), 1))
		_, err := l.Stats()
		check("stats", int(lock.Errno(err)))
		_, err = l.Holders()
		check("holders", int(lock.Errno(err)))
		check("cancel", c.Cancel(6))
		for o := uint32(1); o <= 7; o++ {
			for k := 0; c.Held(o) != 0; k++ {
				if k == 1000 {
					t.Fatalf("owner %d: still holding after 1000 releases", o)
				}
				check("release", c.Release(o, false))
			}
		}
		check("abandon", c.Abandon(7))
		_, err = l.Recover()
		check("recover", int(lock.Errno(err)))
		check("try write after recover", c.Acquire(5, Write, 0, 0))
		if c.Held(5) != 0 {
			check("release", c.Release(5, false))
		}
	})
}

// lockCorpus reads the inputs package lock's FuzzSegmentMemory has kept.
func lockCorpus(f *testing.F) [][]byte {
	dir := filepath.Join("..", "..", "lock", "testdata", "fuzz", "FuzzSegmentMemory")
	ents, err := os.ReadDir(dir)
	if err != nil {
		f.Fatalf("lock's corpus: %v", err)
	}
	var out [][]byte
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[1], "[]byte(") || !strings.HasSuffix(lines[1], ")") {
			f.Fatalf("%s: not a corpus file of one []byte", e.Name())
		}
		v, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil {
			f.Fatalf("%s: %v", e.Name(), err)
		}
		out = append(out, []byte(v))
	}
	if len(out) < 10 {
		f.Fatalf("only %d inputs in lock's corpus", len(out))
	}
	return out
}
