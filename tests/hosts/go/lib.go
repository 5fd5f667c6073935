package main

// The C library, as any cgo user links it. PRWLOCK_LIB_DIR in CGO_LDFLAGS
// (see mk/hosts.mk) may point elsewhere; by default the repository's build/.

/*
#cgo CFLAGS: -I${SRCDIR}/../../../include
#cgo LDFLAGS: -L${SRCDIR}/../../../build -lprwlock -Wl,-rpath,${SRCDIR}/../../../build
#include <stdlib.h>
#include <prwlock.h>
*/
import "C"

import (
	"errors"
	"syscall"
	"time"
)

// lockC is a handle of the C library.
type lockC struct{ p *C.prw_lock }

func create() (*lockC, error) {
	var p *C.prw_lock
	if rc := C.prw_create(&p); rc != 0 {
		return nil, errno(rc)
	}
	return &lockC{p}, nil
}

func (l *lockC) close() error {
	if rc := C.prw_close(l.p); rc != 0 {
		return errno(rc)
	}
	return nil
}

func ns(d time.Duration) C.int64_t { return C.int64_t(d.Nanoseconds()) }

// acquire takes the lock for the calling OS thread (the per-thread API).
func (l *lockC) acquire(write bool, timeout time.Duration) error {
	if write {
		return errno(C.prw_acquire_write(l.p, ns(timeout)))
	}
	return errno(C.prw_acquire_read(l.p, ns(timeout)))
}

func (l *lockC) release() error { return errno(C.prw_release(l.p)) }

// acquireAs takes the lock for owner o, whatever thread runs the call.
func (l *lockC) acquireAs(o uint64, write bool, timeout time.Duration) error {
	if write {
		return errno(C.prw_acquire_write_as(l.p, C.uint64_t(o), ns(timeout)))
	}
	return errno(C.prw_acquire_read_as(l.p, C.uint64_t(o), ns(timeout)))
}

func (l *lockC) releaseAs(o uint64) error { return errno(C.prw_release_as(l.p, C.uint64_t(o))) }

func (l *lockC) usedSlots() (int, error) {
	var i C.prw_info_t
	if rc := C.prw_info(l.p, &i); rc != 0 {
		return 0, errno(rc)
	}
	return int(i.used_slots), nil
}

// errno is nil for 0, else the syscall.Errno of rc (EOWNERDEAD included:
// the callers here never expect one).
func errno(rc C.int) error {
	if rc == 0 {
		return nil
	}
	return syscall.Errno(rc)
}

func isErrno(err error, e syscall.Errno) bool { return errors.Is(err, e) }
