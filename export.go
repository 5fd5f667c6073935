// Command prwlock is built with -buildmode=c-shared into libprwlock.so.
//
// This file is the thin Go side of the C API: it translates arguments and
// errors and calls package lock. The public names (prw_*) are C functions in
// shim.c; they check the fork guard, fill in the caller's thread id and NULL
// arguments, then call the prwgo_* exports below. The linker version script
// (libprwlock.map) hides everything but prw_*, and cgo's generated header
// (_cgo_export.h, libprwlock.h in the build directory) is never installed.
//
// Handles. A prw_lock* given to C is not a pointer but an opaque 64-bit
// number: a per-process counter passed through a bijective scramble, so it
// is never reissued (a stale handle gets EBADF, never a newer lock) and a
// garbage value is very unlikely to name a live one. The table maps it to
// the *lock.Lock and shrinks on close, so memory stays bounded. We do not
// use go-pointer here: it frees its malloc'd key on Unref, and malloc hands
// the same address to the next Save, which would let a stale handle alias a
// newer lock.
//
// Every export recovers from panics (recoverTo) and returns EIO instead, so
// no Go panic crosses into C; export_test.go checks that each one does.
package main

/*
#cgo CFLAGS: -I${SRCDIR}/include -std=gnu11 -O2 -Wall -Wextra
#include <errno.h>
#include <stdint.h>
#include <stddef.h>
#include "prwlock.h"
*/
import "C"

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"sync"
	"time"
	"unsafe"

	"github.com/prwlock/prwlock/lock"
)

func main() {}

// handles is the table of live handles: m maps a handle to its *lock.Lock
// (a sync.Map, since every call looks a handle up and few change the
// table); n counts handles ever issued, under mu.
var handles struct {
	mu  sync.Mutex
	m   sync.Map
	n   uint64
	key uint64
}

// handleMul is odd, so multiplying by it is a bijection on uint64.
const handleMul = 0x9e3779b97f4a7c15

func register(l *lock.Lock) C.uintptr_t {
	handles.mu.Lock()
	defer handles.mu.Unlock()
	if handles.n == 0 {
		handles.key = rand.Uint64()
	}
	for {
		handles.n++
		h := handles.n*handleMul ^ handles.key
		if h != 0 { // 0 is NULL
			handles.m.Store(h, l)
			return C.uintptr_t(h)
		}
	}
}

func lookup(h C.uintptr_t) *lock.Lock {
	if v, ok := handles.m.Load(uint64(h)); ok {
		return v.(*lock.Lock)
	}
	return nil
}

// unregister removes h from the table and returns its lock, or nil. Of two
// racing closes, only one gets the lock.
func unregister(h C.uintptr_t) *lock.Lock {
	if v, ok := handles.m.LoadAndDelete(uint64(h)); ok {
		return v.(*lock.Lock)
	}
	return nil
}

// recoverTo turns a panic into EIO. Use it as "defer recoverTo(&rc)".
func recoverTo(rc *C.int) {
	if r := recover(); r != nil {
		fmt.Fprintf(os.Stderr, "libprwlock: internal error (bug), returning EIO: %v\n%s", r, debug.Stack())
		*rc = C.EIO
	}
}

func errno(err error) C.int { return C.int(lock.Errno(err)) }

// putString copies s and a NUL to buf, following the ERANGE convention of
// prw_serialize.
func putString(s string, buf *C.char, size *C.size_t) C.int {
	need := C.size_t(len(s) + 1)
	if buf == nil || *size < need {
		*size = need
		return C.ERANGE
	}
	dst := unsafe.Slice((*byte)(unsafe.Pointer(buf)), need)
	copy(dst, s)
	dst[len(s)] = 0
	*size = need - 1
	return 0
}

//export prwgo_create
func prwgo_create(out *C.uintptr_t) (rc C.int) {
	defer recoverTo(&rc)
	l, err := lock.CreateAnonymous(lock.Options{})
	if err != nil {
		return errno(err)
	}
	*out = register(l)
	return 0
}

//export prwgo_open
func prwgo_open(name *C.char, flags C.int, mode C.uint, out *C.uintptr_t) (rc C.int) {
	defer recoverTo(&rc)
	create, excl := flags&C.PRW_CREATE != 0, flags&C.PRW_EXCL != 0
	if flags&^(C.PRW_CREATE|C.PRW_EXCL) != 0 || excl && !create || mode&^0o777 != 0 {
		return C.EINVAL
	}
	n := C.GoString(name)
	if n == "" {
		return C.EINVAL
	}
	l, err := lock.Open(n, lock.Options{Create: create, Exclusive: excl, Perm: uint32(mode)})
	if err != nil {
		return errno(err)
	}
	*out = register(l)
	return 0
}

//export prwgo_deserialize
func prwgo_deserialize(token *C.char, out *C.uintptr_t) (rc C.int) {
	defer recoverTo(&rc)
	l, err := lock.OpenToken(C.GoString(token))
	if err != nil {
		return errno(err)
	}
	*out = register(l)
	return 0
}

//export prwgo_close
func prwgo_close(h C.uintptr_t) (rc C.int) {
	defer recoverTo(&rc)
	l := unregister(h)
	if l == nil {
		return C.EBADF
	}
	return errno(l.Close())
}

//export prwgo_unlink
func prwgo_unlink(name *C.char) (rc C.int) {
	defer recoverTo(&rc)
	n := C.GoString(name)
	if n == "" {
		return C.EINVAL
	}
	return errno(lock.Unlink(n))
}

//export prwgo_acquire
func prwgo_acquire(h C.uintptr_t, tid C.uint32_t, mode C.int, timeoutNs C.int64_t) (rc C.int) {
	defer recoverTo(&rc)
	l := lookup(h)
	if l == nil {
		return C.EBADF
	}
	// <0 forever, 0 try, >0 relative; AcquireUntil wants an absolute
	// monotonic deadline with the same signs. A timeout too long to add
	// to the clock is forever.
	deadline := int64(timeoutNs)
	if deadline > 0 {
		now := lock.MonotonicNow()
		if deadline > math.MaxInt64-now {
			deadline = -1
		} else {
			deadline += now
		}
	}
	return errno(l.AcquireUntil(lock.Owner(tid), lock.Mode(mode), deadline))
}

//export prwgo_release
func prwgo_release(h C.uintptr_t, tid C.uint32_t) (rc C.int) {
	defer recoverTo(&rc)
	l := lookup(h)
	if l == nil {
		return C.EBADF
	}
	return errno(l.Release(lock.Owner(tid)))
}

//export prwgo_downgrade
func prwgo_downgrade(h C.uintptr_t, tid C.uint32_t) (rc C.int) {
	defer recoverTo(&rc)
	l := lookup(h)
	if l == nil {
		return C.EBADF
	}
	return errno(l.Downgrade(lock.Owner(tid)))
}

//export prwgo_serialize
func prwgo_serialize(h C.uintptr_t, buf *C.char, size *C.size_t) (rc C.int) {
	defer recoverTo(&rc)
	l := lookup(h)
	if l == nil {
		return C.EBADF
	}
	return putString(l.Token(), buf, size)
}

//export prwgo_name
func prwgo_name(h C.uintptr_t, buf *C.char, size *C.size_t) (rc C.int) {
	defer recoverTo(&rc)
	l := lookup(h)
	if l == nil {
		return C.EBADF
	}
	return putString(l.Path(), buf, size)
}

//export prwgo_is_anonymous
func prwgo_is_anonymous(h C.uintptr_t) (rc C.int) {
	defer recoverTo(&rc)
	l := lookup(h)
	if l == nil {
		return C.EBADF
	}
	if l.Anonymous() {
		return 1
	}
	return 0
}

func b32(b bool) C.uint32_t {
	if b {
		return 1
	}
	return 0
}

//export prwgo_info
func prwgo_info(h C.uintptr_t, info *C.prw_info_t) (rc C.int) {
	defer recoverTo(&rc)
	l := lookup(h)
	if l == nil {
		return C.EBADF
	}
	s, err := l.Stats()
	if err != nil {
		return errno(err)
	}
	*info = C.prw_info_t{
		readers:         C.uint32_t(s.Readers),
		writer_pid:      C.uint32_t(s.WriterPID),
		writer_tid:      C.uint32_t(s.WriterTID),
		writer_active:   b32(s.WriterActive),
		waiting_readers: C.uint32_t(s.WaitingReaders),
		waiting_writers: C.uint32_t(s.WaitingWriters),
		capacity:        C.uint32_t(s.Capacity),
		used_slots:      C.uint32_t(s.UsedSlots),
		attached:        C.uint32_t(s.Attached),
		owner_dead:      b32(s.OwnerDead),
		recoveries:      C.uint64_t(s.Recoveries),
		owner_deaths:    C.uint64_t(s.OwnerDeaths),
	}
	return 0
}

//export prwgo_holders
func prwgo_holders(h C.uintptr_t, out *C.prw_holder_t, capacity C.size_t, count *C.size_t) (rc C.int) {
	defer recoverTo(&rc)
	l := lookup(h)
	if l == nil {
		return C.EBADF
	}
	hs, err := l.Holders()
	if err != nil {
		return errno(err)
	}
	*count = C.size_t(len(hs))
	n := min(len(hs), int(capacity))
	if n > 0 {
		dst := unsafe.Slice(out, n)
		for i := range dst {
			dst[i] = C.prw_holder_t{
				pid:      C.uint32_t(hs[i].PID),
				tid:      C.uint32_t(hs[i].TID),
				mode:     C.int32_t(hs[i].Mode),
				waiting:  C.int32_t(b32(hs[i].Waiting)),
				count:    C.uint32_t(hs[i].Count),
				since_ns: C.int64_t(hs[i].Since),
			}
		}
	}
	if len(hs) > int(capacity) {
		return C.ERANGE
	}
	return 0
}

// atexitWait bounds how long process exit waits for prwgo_atexit.
const atexitWait = time.Second

// prwgo_atexit closes the anonymous locks still open, so that their files
// go away with their last user. shim.c calls it from an atexit handler, never
// in a forked child. A Close that cannot finish in atexitWait (say, another
// thread is wedged in a call) is left behind: the process is exiting, and
// its death releases what it holds anyway.
//
//export prwgo_atexit
func prwgo_atexit() (rc C.int) {
	defer recoverTo(&rc)
	var anon []*lock.Lock
	handles.m.Range(func(h, v any) bool {
		if l := v.(*lock.Lock); l.Anonymous() {
			if _, ok := handles.m.LoadAndDelete(h); ok {
				anon = append(anon, l)
			}
		}
		return true
	})
	if len(anon) == 0 {
		return 0
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { _ = recover() }() // exiting anyway: never crash here
		for _, l := range anon {
			l.Close()
		}
	}()
	select {
	case <-done:
	case <-time.After(atexitWait):
		return C.ETIMEDOUT
	}
	return 0
}
