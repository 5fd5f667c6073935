//go:build linux

package lock

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// FuzzOpenSegment opens a file holding arbitrary bytes as a lock and, if
// the file is accepted, uses it with zero and tiny timeouts. Nothing may
// panic or hang; a refused file must be left exactly as it was; every
// error must be one the API documents for the call.
//
// The seed corpus in testdata/fuzz/FuzzOpenSegment is written by
// TestWriteFuzzSeeds (PRWLOCK_WRITE_SEEDS=1).
func FuzzOpenSegment(f *testing.F) {
	dir := f.TempDir()
	var seq atomic.Int64
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<20 {
			return
		}
		if waitsByDesign(data) {
			return
		}
		path := filepath.Join(dir, strconv.FormatInt(seq.Add(1), 10))
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(path)
		// A hang is a failure: crash with the input rather than stall.
		watchdog := time.AfterFunc(20*time.Second, func() {
			panic(fmt.Sprintf("FuzzOpenSegment: %d-byte input hung", len(data)))
		})
		defer watchdog.Stop()

		l, err := Open(path, Options{})
		if err != nil {
			if !errors.Is(err, ErrProtocol) && !errors.Is(err, ErrFull) && !errors.Is(err, ErrTimeout) {
				t.Fatalf("Open: unexpected error %v", err)
			}
			if got, rerr := os.ReadFile(path); rerr != nil || !bytes.Equal(got, data) {
				t.Fatalf("a refused open changed the file (read err %v)", rerr)
			}
			return
		}
		exerciseAccepted(t, l, data)
		if err := l.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if fi, err := os.Stat(path); err == nil && fi.Size() != int64(len(data)) {
			t.Fatalf("file resized from %d to %d", len(data), fi.Size())
		}
	})
}

// waitsByDesign reports inputs that the engine deliberately waits on: a
// segment still being created (no magic, or segNew) gets a grace period,
// and one in segClosing waits for its closer. Each costs up to seconds,
// which would starve the fuzzer; TestOpenUninitialisedFile,
// TestOpenStaleClosingState and TestOpenRemovedState cover them.
func waitsByDesign(data []byte) bool {
	hdr := data
	if len(hdr) > offState {
		hdr = hdr[:offState]
	}
	ready, err := checkHeader(hdr, int64(len(data)))
	if err != nil {
		return false
	}
	if !ready {
		return true
	}
	ss := binary.NativeEndian.Uint32(hdr[offSegState:])
	return ss == segClosing || ss == segRemoved
}

// exerciseAccepted runs the lock's operations on an accepted segment.
func exerciseAccepted(t *testing.T, l *Lock, data []byte) {
	c := int(binary.NativeEndian.Uint32(data[offCapacity:]))
	if l.seg.capacity != c || len(l.seg.mem) != len(data) {
		t.Fatalf("accepted with capacity %d mapping %d; file says %d, %d bytes", l.seg.capacity, len(l.seg.mem), c, len(data))
	}
	ok := func(what string, err error, allowed ...error) {
		t.Helper()
		if err == nil {
			return
		}
		for _, a := range append(allowed, ErrProtocol, ErrFull, ErrOwnerDead) {
			if errors.Is(err, a) {
				return
			}
		}
		t.Fatalf("%s: unexpected error %v", what, err)
	}
	const r, w = Owner(1), Owner(2)
	ok("try read", l.Acquire(r, ModeRead, 0), ErrBusy)
	ok("try write", l.Acquire(w, ModeWrite, 0), ErrBusy, ErrDeadlock)
	ok("tiny write", l.Acquire(w, ModeWrite, 50*time.Microsecond), ErrTimeout, ErrDeadlock)
	ok("recursive read", l.Acquire(r, ModeRead, 0), ErrBusy)
	if _, err := l.Stats(); err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if _, err := l.Holders(); err != nil {
		t.Fatalf("Holders: %v", err)
	}
	l.OwnerDied()
	for i := 0; i < 2; i++ {
		ok("release read", l.Release(r), ErrNotHeld)
	}
	ok("release write", l.Release(w), ErrNotHeld)
	if l.Held(r) != ModeNone || l.Held(w) != ModeNone {
		t.Fatalf("holds left after release: %v %v", l.Held(r), l.Held(w))
	}
	ok("tiny read", l.Acquire(r, ModeRead, 50*time.Microsecond), ErrTimeout)
	ok("downgrade read", l.Downgrade(r), ErrNotHeld)
	ok("release", l.Release(r), ErrNotHeld)
	if err := l.Acquire(w, ModeWrite, 0); err == nil || errors.Is(err, ErrOwnerDead) {
		ok("downgrade", l.Downgrade(w), ErrNotHeld)
		ok("release downgraded", l.Release(w))
	}
	if l.TryRLock() {
		l.RUnlock()
	}
	if l.TryLock() {
		l.Unlock()
	}
	if _, err := l.Recover(); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	// Leave one hold for Close to clean up.
	ok("held at close", l.Acquire(w, ModeWrite, 0), ErrBusy)
}

// FuzzCheckHeader checks the pure header validation: it never panics,
// never modifies its input, is deterministic, refuses only with
// ErrProtocol, and accepts only headers that describe a complete segment of
// exactly the file's size.
func FuzzCheckHeader(f *testing.F) {
	_, _, size := layoutFor(64)
	hdr := func(mod func(b []byte)) []byte {
		b := make([]byte, offState)
		put64(b, offMagic, magicValue)
		put32(b, offVersion, layoutVersion)
		put32(b, offSlotSize, slotSize)
		put64(b, offSize, uint64(size))
		put32(b, offCapacity, 64)
		put32(b, offAttachCap, 64)
		put32(b, offSegState, segReady)
		if mod != nil {
			mod(b)
		}
		return b
	}
	f.Add(hdr(nil), int64(size))
	f.Add(hdr(func(b []byte) { put32(b, offFlags, flagAnonymous) }), int64(size))
	f.Add(hdr(func(b []byte) { put32(b, offSegState, segNew) }), int64(size))
	f.Add(hdr(func(b []byte) { put32(b, offVersion, 2) }), int64(size))
	f.Add(hdr(func(b []byte) { put64(b, offMagic, 0) }), int64(size))
	f.Add(make([]byte, offState), int64(size))
	f.Add([]byte{}, int64(0))
	f.Add([]byte("PRWLOCK"), int64(7))
	f.Fuzz(func(t *testing.T, h []byte, fileSize int64) {
		orig := append([]byte(nil), h...)
		ready, err := checkHeader(h, fileSize)
		if !bytes.Equal(h, orig) {
			t.Fatal("checkHeader modified its input")
		}
		if r2, e2 := checkHeader(h, fileSize); r2 != ready || (e2 == nil) != (err == nil) {
			t.Fatal("checkHeader is not deterministic")
		}
		if err != nil {
			if ready {
				t.Fatal("ready with an error")
			}
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("refused with %v, want ErrProtocol", err)
			}
			return
		}
		ne := binary.NativeEndian
		if !ready {
			// Only a blank file or a header still being written may wait
			// (the creator stores the magic last, then segReady); the
			// opener bounds that wait by the creator's OFD lock. A file
			// that stat saw empty may have grown before the read.
			blank := len(h) < offState && fileSize == 0 ||
				allZero(h) && (len(h) >= offState || int64(len(h)) == fileSize)
			initialising := len(h) >= offState && (ne.Uint64(h) == 0 ||
				ne.Uint64(h) == magicValue && ne.Uint32(h[offSegState:]) == segNew)
			if !blank && !initialising {
				t.Fatalf("told to wait on a header that is neither blank nor initialising (size %d)", fileSize)
			}
			return
		}
		if len(h) < offState || ne.Uint64(h) != magicValue || ne.Uint32(h[offVersion:]) != layoutVersion ||
			ne.Uint32(h[offSlotSize:]) != slotSize {
			t.Fatal("accepted a header without magic, version or slot size")
		}
		c := int(ne.Uint32(h[offCapacity:]))
		if c < 64 || c > MaxCapacity || c%64 != 0 || int(ne.Uint32(h[offAttachCap:])) != c {
			t.Fatalf("accepted capacity %d", c)
		}
		if _, _, sz := layoutFor(c); int64(sz) != fileSize || ne.Uint64(h[offSize:]) != uint64(sz) {
			t.Fatalf("accepted size %d for capacity %d (file %d)", ne.Uint64(h[offSize:]), c, fileSize)
		}
		if fl := ne.Uint32(h[offFlags:]); fl&^flagAnonymous != 0 {
			t.Fatalf("accepted flags %#x", fl)
		}
		if ss := ne.Uint32(h[offSegState:]); ss != segReady && ss != segClosing && ss != segRemoved {
			t.Fatalf("accepted segment state %d", ss)
		}
	})
}

// TestWriteFuzzSeeds regenerates the committed seed corpus of
// FuzzOpenSegment. It only runs with PRWLOCK_WRITE_SEEDS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("PRWLOCK_WRITE_SEEDS") == "" {
		t.Skip("set PRWLOCK_WRITE_SEEDS=1 to rewrite testdata/fuzz/FuzzOpenSegment")
	}
	seeds := map[string][]byte{}
	fresh := segmentBytes(t, 64, false, nil)
	seeds["fresh"] = fresh
	seeds["fresh-cap128"] = segmentBytes(t, 128, false, nil)
	seeds["attached"] = segmentBytes(t, 64, true, nil)
	seeds["held-write"] = segmentBytes(t, 64, true, func(l *Lock) {
		if err := l.Acquire(7, ModeWrite, 0); err != nil {
			t.Fatal(err)
		}
	})
	seeds["held-read-recursive"] = segmentBytes(t, 64, true, func(l *Lock) {
		for _, o := range []Owner{3, 4, 4} {
			if err := l.Acquire(o, ModeRead, 0); err != nil {
				t.Fatal(err)
			}
		}
	})
	seeds["pending-writer"] = segmentBytes(t, 64, true, func(l *Lock) {
		if err := l.Acquire(3, ModeRead, 0); err != nil {
			t.Fatal(err)
		}
		go l.Acquire(5, ModeWrite, 300*time.Millisecond)
		time.Sleep(50 * time.Millisecond)
	})
	seeds["owner-dead"] = segmentBytes(t, 64, false, func(l *Lock) {
		if err := l.Acquire(7, ModeWrite, 0); err != nil {
			t.Fatal(err)
		}
		// Close releases the write hold as if its owner died.
	})
	mut := func(f func(b []byte)) []byte {
		b := append([]byte(nil), fresh...)
		f(b)
		return b
	}
	seeds["anonymous"] = mut(func(b []byte) { put32(b, offFlags, flagAnonymous) })
	seeds["bad-magic"] = mut(func(b []byte) { b[0] = 'X' })
	seeds["bad-version"] = mut(func(b []byte) { put32(b, offVersion, 2) })
	seeds["bad-capacity"] = mut(func(b []byte) { put32(b, offCapacity, 65) })
	seeds["writer-out-of-range"] = mut(func(b []byte) { put32(b, offState, stateWriterMask|stateWritersWaiting) })
	seeds["bitmap-full-garbage-slots"] = mut(func(b []byte) {
		slotOff, attOff, _ := layoutFor(64)
		put64(b, offBitmap, ^uint64(0))
		put32(b, offUsedWords, ^uint32(0))
		for i := slotOff; i < attOff; i += 8 {
			put64(b, i, uint64(i)*0x9e3779b97f4a7c15)
		}
	})
	seeds["truncated"] = fresh[:4096]
	seeds["oversized"] = append(append([]byte(nil), fresh...), 0)
	seeds["header-only"] = fresh[:offState]

	dir := filepath.Join("testdata", "fuzz", "FuzzOpenSegment")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
