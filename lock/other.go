//go:build !linux

package lock

import (
	"errors"
	"fmt"
	"time"
)

// This platform has no implementation of the protocol yet: futexes, OFD
// locks and /proc liveness are Linux facilities. Every entry point that
// would touch a segment returns an error wrapping errors.ErrUnsupported.

var errUnsupported = fmt.Errorf("prwlock: shared locks are implemented on Linux only: %w", errors.ErrUnsupported)

// ShmDir is where bare names would live.
const ShmDir = "/dev/shm"

// NamePrefix marks lock files.
const NamePrefix = "prwlock."

// ResolvePath is unsupported on this platform.
func ResolvePath(name string) (string, error) { return "", errUnsupported }

// Open is unsupported on this platform.
func Open(name string, opt Options) (*Lock, error) { return nil, errUnsupported }

// CreateAnonymous is unsupported on this platform.
func CreateAnonymous(opt Options) (*Lock, error) { return nil, errUnsupported }

// OpenToken is unsupported on this platform.
func OpenToken(token string) (*Lock, error) { return nil, errUnsupported }

// Unlink is unsupported on this platform.
func Unlink(name string) error { return errUnsupported }

// SweepAnonymous does nothing on this platform.
func SweepAnonymous() int { return 0 }

// Token is unsupported on this platform.
func (l *Lock) Token() string { return "" }

// Close is unsupported on this platform.
func (l *Lock) Close() error { return errUnsupported }

// MonotonicNow returns a monotonic clock reading in nanoseconds.
func MonotonicNow() int64 { return int64(time.Since(monoT0)) + 1 }

var monoT0 = time.Now()

type ident struct {
	pid    uint32
	pstart uint64
	pidns  uint64
	key    uint64
}

const futexBitsetAny = 0xffffffff

func futexWait(addr *uint32, val uint32, deadline int64, bits uint32) bool {
	time.Sleep(time.Millisecond)
	return false
}
func futexWakeN(addr *uint32, n int)                    {}
func futexWakeBits(addr *uint32, bits uint32)           {}
func alive(id, me ident, dev, ino uint64) bool          { return true }
func keyAlive(k uint64, me ident, dev, ino uint64) bool { return true }
func stopped(pid uint32, thread uint64) bool            { return false }
func sleepBriefly()                                     { time.Sleep(200 * time.Microsecond) }
