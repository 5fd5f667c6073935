//go:build linux && cgo

// Package cplane exposes libprwlock's C data plane (prw_engine.c, compiled
// into this package as it is into the library) to Go tests, so that they
// can drive it and the Go engine of package lock on the same segments: the
// differential test and the fuzzer of this package. It is not an API.
//
// The C files and headers here are symbolic links to the library's: the go
// command rebuilds a package when its own files change, but does not track
// files included from elsewhere.
package cplane

/*
#cgo CFLAGS: -std=gnu11 -O2 -Wall -Wextra
#include <stdlib.h>
#include "prw_engine.h"

// The tests run no waits that reach a check (their waits are tries, or
// slices that already ended), and no table fills up; the hooks count calls
// so that a test can say so.
static long prwt_checks;
static int prwt_check(void *ctx, int kind, int slot) {
	(void)ctx, (void)kind, (void)slot;
	prwt_checks++;
	return 0;
}
static int prwt_closing(void *ctx) { (void)ctx; return 0; }
static const prwe_env prwt_env = {prwt_check, prwt_closing, 0};

static int prwt_acquire(prwe_seg *s, prwe_me *me, prwe_rec *r, uint32_t o, int mode,
                        int64_t deadline, int64_t slice_end) {
	// As the library's prw_acquire_* do: the fast path first, for reads
	// (slices go straight to the full path).
	if (mode == PRWE_READ && slice_end == 0) {
		int rc = prwe_read_fast(s, me, r);
		if (rc != -1) return rc;
	}
	prwe_wait w = {deadline, slice_end, 0, 0};
	return prwe_acquire_wait(s, me, &prwt_env, r, o, mode, &w);
}
// As prw_release does (prw_release_unrepaired has no fast path).
static int prwt_release(prwe_seg *s, prwe_me *me, prwe_rec *r, int keep_mark) {
	if (!keep_mark) {
		int rc = prwe_release_fast(s, me, r);
		if (rc != -1) return rc;
	}
	return prwe_release(s, me, r, keep_mark);
}
static long prwt_check_calls(void) { return prwt_checks; }
static uint32_t prwt_mod(uint32_t capacity, uint32_t x) {
	prwe_seg s;
	prwe_seg_init(&s, 0, capacity, 0);
	return prwe_mod_capacity(&s, x);
}
*/
import "C"

import (
	"unsafe"

	"github.com/prwlock/prwlock/lock"
)

// Modes, as lock.Mode.
const (
	Read  = C.PRWE_READ
	Write = C.PRWE_WRITE
)

// Seg is a segment as the C engine sees it, with this process's identity.
// Its memory is C memory: the mapping, and the records of its owners.
type Seg struct {
	s    *C.prwe_seg
	me   *C.prwe_me
	recs map[uint32]*C.prwe_rec
}

// New makes a C view of m's mapping, with the identity prwe_self computes.
func New(m lock.Mapping) *Seg {
	s := (*C.prwe_seg)(C.calloc(1, C.sizeof_prwe_seg))
	C.prwe_seg_init(s, m.Base, C.uint32_t(m.Capacity), C.uint32_t(m.SlotOff))
	me := (*C.prwe_me)(C.calloc(1, C.sizeof_prwe_me))
	C.prwe_self(me)
	return &Seg{s: s, me: me, recs: map[uint32]*C.prwe_rec{}}
}

// Free releases the C memory of the view (not the mapping).
func (g *Seg) Free() {
	for _, r := range g.recs {
		C.free(unsafe.Pointer(r))
	}
	C.free(unsafe.Pointer(g.s))
	C.free(unsafe.Pointer(g.me))
}

// Self returns the identity the C engine computed for this process.
func (g *Seg) Self() (pid uint32, pstart, pidns, key uint64) {
	return uint32(g.me.pid), uint64(g.me.pstart), uint64(g.me.pidns), uint64(g.me.key)
}

func (g *Seg) rec(o uint32) *C.prwe_rec {
	r := g.recs[o]
	if r == nil {
		r = (*C.prwe_rec)(C.calloc(1, C.sizeof_prwe_rec))
		r.slot, r.idle = -1, -1
		g.recs[o] = r
	}
	return r
}

// Acquire is prw_acquire_*'s engine path for owner o (the waitCtl of
// AcquireSlice): prwe_read_fast for a read, then prwe_acquire_wait.
func (g *Seg) Acquire(o uint32, mode int, deadline, sliceEnd int64) int {
	return int(C.prwt_acquire(g.s, g.me, g.rec(o), C.uint32_t(o), C.int(mode), C.int64_t(deadline), C.int64_t(sliceEnd)))
}

// Release is prw_release's engine path: prwe_release_fast, then
// prwe_release (keepMark: ReleaseUnrepaired, straight to prwe_release).
func (g *Seg) Release(o uint32, keepMark bool) int {
	k := 0
	if keepMark {
		k = 1
	}
	return int(C.prwt_release(g.s, g.me, g.rec(o), C.int(k)))
}

// Downgrade is prwe_downgrade.
func (g *Seg) Downgrade(o uint32) int { return int(C.prwe_downgrade(g.s, g.me, g.rec(o))) }

// Cancel is prwe_cancel.
func (g *Seg) Cancel(o uint32) int { return int(C.prwe_cancel(g.s, g.me, g.rec(o))) }

// Abandon is prwe_abandon; the owner's record is forgotten.
func (g *Seg) Abandon(o uint32) int {
	rc := int(C.prwe_abandon(g.s, g.me, g.rec(o)))
	C.free(unsafe.Pointer(g.recs[o]))
	delete(g.recs, o)
	return rc
}

// Held reports the mode owner o holds (0 none), as lock.Lock.Held.
func (g *Seg) Held(o uint32) int {
	r := g.recs[o]
	if r == nil || r.slot < 0 {
		return 0
	}
	return int(r.mode)
}

// Checks is how many checks the engine asked for, in all views.
func Checks() int { return int(C.prwt_check_calls()) }

// ModCapacity is the engine's x % capacity.
func ModCapacity(capacity, x uint32) uint32 {
	return uint32(C.prwt_mod(C.uint32_t(capacity), C.uint32_t(x)))
}

// Now is the C engine's clock.
func Now() int64 { return int64(C.prwe_now()) }
