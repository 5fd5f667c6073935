// Command prwlock is built with -buildmode=c-shared into libprwlock.so.
//
// This file is the thin Go side of the C API: it translates arguments and
// errors and calls package lock. The public names (prw_*) are C functions in
// shim.c, and the data plane (acquire, release, downgrade, cancel and the
// waits) runs in C, in prw_engine.c, without entering Go. shim.c calls the
// prwgo_* exports below only for what is rare: open, create and close, the
// token, inspection, the segment's mapping, and the checks a waiter runs
// once per poll interval (liveness and recovery, which stay in package
// lock). The linker version script (libprwlock.map) hides everything but
// prw_* and the private table of shim.c, and cgo's generated header
// (_cgo_export.h, libprwlock.h in the build directory) is never installed.
//
// Handles. The handles given to C users are issued by shim.c. Each names
// one handle of the table below, an opaque 64-bit number: a slot index and
// that slot's generation passed through a bijective scramble, so it is
// never reissued (a stale handle gets EBADF, never a newer lock). The table
// (see "The handle table" below) maps it to the *lock.Lock without locks or
// allocation, and reuses closed slots, so memory stays bounded.
//
// Every export recovers from panics (recoverTo) and returns EIO instead, so
// no Go panic crosses into C; export_test.go checks that each one does.
package main

/*
#cgo CFLAGS: -I${SRCDIR}/include -std=gnu11 -O2 -Wall -Wextra
#cgo amd64 CFLAGS: -mtls-dialect=gnu2
#include <errno.h>
#include <stdint.h>
#include <stddef.h>
#include "prwlock.h"
#include "prw_engine.h"
*/
import "C"

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/prwlock/prwlock/lock"
)

func main() {}

// The handle table. A handle encodes a slot index and that slot's
// generation, v = gen<<handleIdxBits | idx with gen >= 1, scrambled as
// h = v*handleMul ^ handleKey: a bijection, so distinct (idx, gen) pairs give
// distinct handles, and with a per-copy random key a handle of another copy
// of the library (or a garbage value) decodes to a slot and generation that
// are almost certainly not live. A slot's generation only grows, so a
// handle is never reissued; a slot whose generation space is exhausted is
// retired, never reused.
//
// Slots live in fixed-size chunks that never move, reached through a fixed
// directory, so a lookup is lock-free and allocation-free: decode, two
// atomic loads, one compare. Each slot points to an immutable entry {h, l};
// close swaps the entry out with a CAS, so of two racing closes only one
// gets the lock, and a lookup that loaded the entry before the close may
// still use the lock (as a call already past its lookup would). Memory is
// bounded by the largest number of handles open at once: closed slots go on
// a free list and are reused with the next generation.
//
// The previous table, a sync.Map keyed by a scrambled counter, cost about
// 170 instructions per lookup (interface hashing and comparison in the
// hash-trie); this one costs about 15.
const (
	handleIdxBits   = 24 // at most 16M handles open at once
	handleMaxSlots  = 1 << handleIdxBits
	handleGenMax    = 1<<(64-handleIdxBits) - 1
	handleChunkBits = 10
	handleChunkSize = 1 << handleChunkBits
	// handleMul is odd, so multiplying by it is a bijection on uint64;
	// handleInv is its inverse modulo 2^64.
	handleMul = 0x9e3779b97f4a7c15
	handleInv = 0xf1de83e19937733d
)

type handleEntry struct {
	h uint64
	l *lock.Lock
}

type handleChunk [handleChunkSize]atomic.Pointer[handleEntry]

var handleKey = rand.Uint64()

var handles struct {
	dir [handleMaxSlots / handleChunkSize]atomic.Pointer[handleChunk]

	mu   sync.Mutex // serializes register and the free list
	n    uint32     // slots ever used: 0..n-1
	gen  []uint64   // last generation issued per slot, under mu
	free []uint32   // closed slots, reusable
}

func handleSlot(idx uint32) *atomic.Pointer[handleEntry] {
	c := handles.dir[idx>>handleChunkBits].Load()
	if c == nil {
		return nil
	}
	return &c[idx&(handleChunkSize-1)]
}

// register issues a new handle for l, or returns 0 if 2^24 handles are
// already open.
func register(l *lock.Lock) C.uintptr_t {
	handles.mu.Lock()
	defer handles.mu.Unlock()
	for {
		var idx uint32
		if k := len(handles.free); k > 0 {
			idx = handles.free[k-1]
			handles.free = handles.free[:k-1]
		} else {
			if handles.n == handleMaxSlots {
				return 0
			}
			idx = handles.n
			if idx&(handleChunkSize-1) == 0 {
				handles.dir[idx>>handleChunkBits].Store(new(handleChunk))
			}
			handles.n++
			handles.gen = append(handles.gen, 0)
		}
		for handles.gen[idx] < handleGenMax {
			handles.gen[idx]++
			h := (handles.gen[idx]<<handleIdxBits|uint64(idx))*handleMul ^ handleKey
			if h != 0 { // 0 is NULL
				handleSlot(idx).Store(&handleEntry{h: h, l: l})
				return C.uintptr_t(h)
			}
		}
		// Generations exhausted: retire the slot, take another.
	}
}

// releaseSlot makes the slot of a handle just unregistered reusable.
func releaseSlot(idx uint32) {
	handles.mu.Lock()
	handles.free = append(handles.free, idx)
	handles.mu.Unlock()
}

func handleIndex(h C.uintptr_t) uint32 {
	return uint32((uint64(h) ^ handleKey) * handleInv & (handleMaxSlots - 1))
}

func lookup(h C.uintptr_t) *lock.Lock {
	idx := handleIndex(h)
	if c := handles.dir[idx>>handleChunkBits].Load(); c != nil {
		if e := c[idx&(handleChunkSize-1)].Load(); e != nil && e.h == uint64(h) {
			return e.l
		}
	}
	return nil
}

// unregister removes h from the table and returns its lock, or nil. Of two
// racing closes, only one gets the lock.
func unregister(h C.uintptr_t) *lock.Lock {
	idx := handleIndex(h)
	s := handleSlot(idx)
	if s == nil {
		return nil
	}
	for {
		e := s.Load()
		if e == nil || e.h != uint64(h) {
			return nil
		}
		if s.CompareAndSwap(e, nil) {
			releaseSlot(idx)
			return e.l
		}
	}
}

// registered stores a new handle for l in *out, or closes l and returns
// EMFILE if the table is full.
func registered(l *lock.Lock, out *C.uintptr_t) C.int {
	h := register(l)
	if h == 0 {
		l.Close()
		return C.EMFILE
	}
	*out = h
	return 0
}

// recoverTo turns a panic into EIO. Use it as "defer recoverTo(&rc)".
func recoverTo(rc *C.int) {
	if r := recover(); r != nil {
		fmt.Fprintf(os.Stderr, "libprwlock: internal error (bug), returning EIO: %v\n%s", r, debug.Stack())
		*rc = C.EIO
	}
}

// errno maps err to its errno value; nil (the common case) without a call.
func errno(err error) C.int {
	if err == nil {
		return 0
	}
	return C.int(lock.Errno(err))
}

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

// capacityOption checks a capacity given to prw_create_ex or prw_open_ex;
// lock.Options rounds it up and rejects what is too large.
func capacityOption(capacity C.uint) (int, bool) {
	return int(capacity), capacity <= lock.MaxCapacity
}

//export prwgo_create
func prwgo_create(capacity C.uint, out *C.uintptr_t) (rc C.int) {
	defer recoverTo(&rc)
	c, ok := capacityOption(capacity)
	if !ok {
		return C.EINVAL
	}
	l, err := lock.CreateAnonymous(lock.Options{Capacity: c})
	if err != nil {
		return errno(err)
	}
	return registered(l, out)
}

//export prwgo_open
func prwgo_open(name *C.char, flags C.int, mode C.uint, capacity C.uint, out *C.uintptr_t) (rc C.int) {
	defer recoverTo(&rc)
	create, excl := flags&C.PRW_CREATE != 0, flags&C.PRW_EXCL != 0
	c, ok := capacityOption(capacity)
	if flags&^(C.PRW_CREATE|C.PRW_EXCL|C.PRW_MULTIUSER) != 0 || excl && !create || mode&^0o777 != 0 || !ok {
		return C.EINVAL
	}
	n := C.GoString(name)
	if n == "" {
		return C.EINVAL
	}
	l, err := lock.Open(n, lock.Options{Create: create, Exclusive: excl, Perm: uint32(mode),
		MultiUser: flags&C.PRW_MULTIUSER != 0, Capacity: c})
	if err != nil {
		return errno(err)
	}
	return registered(l, out)
}

//export prwgo_deserialize
func prwgo_deserialize(token *C.char, out *C.uintptr_t) (rc C.int) {
	defer recoverTo(&rc)
	l, err := lock.OpenToken(C.GoString(token))
	if err != nil {
		return errno(err)
	}
	return registered(l, out)
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

//export prwgo_capacity
func prwgo_capacity(h C.uintptr_t, capacity *C.uint32_t) (rc C.int) {
	defer recoverTo(&rc)
	l := lookup(h)
	if l == nil {
		return C.EBADF
	}
	*capacity = C.uint32_t(l.Capacity())
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
func prwgo_holders(h C.uintptr_t, out *C.prw_holder_ex_t, capacity C.size_t, count *C.size_t) (rc C.int) {
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
			dst[i] = C.prw_holder_ex_t{
				h: C.prw_holder_t{
					pid:      C.uint32_t(hs[i].PID),
					tid:      C.uint32_t(hs[i].TID),
					mode:     C.int32_t(hs[i].Mode),
					waiting:  C.int32_t(b32(hs[i].Waiting)),
					count:    C.uint32_t(hs[i].Count),
					since_ns: C.int64_t(hs[i].Since),
				},
				owner: C.uint64_t(hs[i].Owner),
				fence: C.uint64_t(hs[i].Fence),
			}
			putHost(&dst[i].host, hs[i].Host)
		}
	}
	if len(hs) > int(capacity) {
		return C.ERANGE
	}
	return 0
}

//export prwgo_mapping
func prwgo_mapping(h C.uintptr_t, out *C.prwi_mapping) (rc C.int) {
	defer recoverTo(&rc)
	l := lookup(h)
	if l == nil {
		return C.EBADF
	}
	m, err := l.Mapping()
	if err != nil {
		return errno(err)
	}
	*out = C.prwi_mapping{
		base:     m.Base,
		size:     C.uint64_t(m.Size),
		capacity: C.uint32_t(m.Capacity),
		slot_off: C.uint32_t(m.SlotOff),
		dev:      C.uint64_t(m.Dev),
		ino:      C.uint64_t(m.Ino),
		pid:      C.uint32_t(m.PID),
		pstart:   C.uint64_t(m.Pstart),
		pidns:    C.uint64_t(m.Pidns),
		key:      C.uint64_t(m.Key),
	}
	return 0
}

// prwgo_check runs, for the C data plane, a check that a waiter runs when
// a poll interval has passed (kind: PRWE_CHECK_*). A sweep stores in
// *recovered how many slots it recovered.
//
//export prwgo_check
func prwgo_check(h C.uintptr_t, kind C.int, slot C.int, recovered *C.int) (rc C.int) {
	defer recoverTo(&rc)
	l := lookup(h)
	if l == nil {
		return C.EBADF
	}
	*recovered = 0
	switch kind {
	case C.PRWE_CHECK_WRITER:
		return errno(l.CheckWriter())
	case C.PRWE_CHECK_WRITE_WAIT:
		return errno(l.CheckWriteWait(int(slot)))
	case C.PRWE_CHECK_READERS:
		return errno(l.CheckReaders())
	case C.PRWE_CHECK_SWEEP:
		n, err := l.SweepForRoom()
		*recovered = C.int(n)
		return errno(err)
	}
	return C.EINVAL
}

// Remote locks (etcd://, lock/remote.go) have no mapping: shim.c sends
// their data-plane calls here, with the calling thread's id as the owner.
// mode is PRW_MODE_READ or PRW_MODE_WRITE; deadline and sliceEnd are as
// for prw_acquire_slice (sliceEnd 0: no slice).

func remoteLock(h C.uintptr_t) (*lock.Lock, C.int) {
	l := lookup(h)
	if l == nil {
		return nil, C.EBADF
	}
	if !l.Remote() {
		return nil, C.EINVAL
	}
	return l, 0
}

//export prwgo_remote_acquire
func prwgo_remote_acquire(h C.uintptr_t, tid C.uint32_t, mode C.int, deadline, sliceEnd C.int64_t) (rc C.int) {
	defer recoverTo(&rc)
	l, rc := remoteLock(h)
	if l == nil {
		return rc
	}
	if sliceEnd > 0 {
		return errno(l.AcquireSlice(lock.Owner(tid), lock.Mode(mode), int64(deadline), int64(sliceEnd)))
	}
	return errno(l.AcquireUntil(lock.Owner(tid), lock.Mode(mode), int64(deadline)))
}

//export prwgo_remote_release
func prwgo_remote_release(h C.uintptr_t, tid C.uint32_t, unrepaired C.int) (rc C.int) {
	defer recoverTo(&rc)
	l, rc := remoteLock(h)
	if l == nil {
		return rc
	}
	if unrepaired != 0 {
		return errno(l.ReleaseUnrepaired(lock.Owner(tid)))
	}
	return errno(l.Release(lock.Owner(tid)))
}

//export prwgo_remote_cancel
func prwgo_remote_cancel(h C.uintptr_t, tid C.uint32_t) (rc C.int) {
	defer recoverTo(&rc)
	l, rc := remoteLock(h)
	if l == nil {
		return rc
	}
	return errno(l.Cancel(lock.Owner(tid)))
}

//export prwgo_remote_downgrade
func prwgo_remote_downgrade(h C.uintptr_t, tid C.uint32_t) (rc C.int) {
	defer recoverTo(&rc)
	l, rc := remoteLock(h)
	if l == nil {
		return rc
	}
	return errno(l.Downgrade(lock.Owner(tid)))
}

// prwgo_remote_abandon ends the holds of an exited thread (lock.Abandon).
//
//export prwgo_remote_abandon
func prwgo_remote_abandon(h C.uintptr_t, tid C.uint32_t) (rc C.int) {
	defer recoverTo(&rc)
	l, rc := remoteLock(h)
	if l == nil {
		return rc
	}
	return errno(l.Abandon(lock.Owner(tid)))
}

//export prwgo_remote_fence
func prwgo_remote_fence(h C.uintptr_t, tid C.uint32_t, out *C.uint64_t) (rc C.int) {
	defer recoverTo(&rc)
	l, rc := remoteLock(h)
	if l == nil {
		return rc
	}
	f, err := l.Fence(lock.Owner(tid))
	if err == nil {
		*out = C.uint64_t(f)
	}
	return errno(err)
}

// putHost copies host, cut to fit and NUL-terminated, to a C host field.
func putHost(dst *[256]C.char, host string) {
	n := copy(unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), len(dst)-1), host)
	dst[n] = 0
}
