package lock

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
)

// lockError is a sentinel error that also matches its errno, so both
// errors.Is(err, lock.ErrTimeout) and errors.Is(err, syscall.ETIMEDOUT) hold.
type lockError struct {
	errno syscall.Errno
	msg   string
}

func (e *lockError) Error() string { return "prwlock: " + e.msg }

// Is reports whether target is this sentinel or its errno. ErrPermission
// also matches fs.ErrPermission, as the kernel's EACCES does.
func (e *lockError) Is(target error) bool {
	if t, ok := target.(syscall.Errno); ok {
		return t == e.errno
	}
	return target == e || e == ErrPermission && target == fs.ErrPermission
}

// Errno returns the errno value carried by the sentinel.
func (e *lockError) Errno() syscall.Errno { return e.errno }

// Sentinel errors. Each wraps the errno the C API returns for it.
var (
	// ErrBusy: a try-acquire could not take the lock at once (EBUSY).
	ErrBusy = &lockError{syscall.EBUSY, "lock is busy"}
	// ErrTimeout: the wait reached its deadline (ETIMEDOUT).
	ErrTimeout = &lockError{syscall.ETIMEDOUT, "timed out waiting for the lock"}
	// ErrDeadlock: the caller's own hold makes the request impossible (EDEADLK).
	ErrDeadlock = &lockError{syscall.EDEADLK, "request would deadlock on the caller's own hold"}
	// ErrNotHeld: release or downgrade without the matching hold (EPERM).
	ErrNotHeld = &lockError{syscall.EPERM, "caller does not hold the lock in the required mode"}
	// ErrOwnerDead: the lock IS granted, but a writer died holding it and the
	// protected data may be inconsistent (EOWNERDEAD).
	ErrOwnerDead = &lockError{syscall.EOWNERDEAD, "lock acquired, but a previous writer died holding it"}
	// ErrFull: the holder table is full (EAGAIN).
	ErrFull = &lockError{syscall.EAGAIN, "holder table is full"}
	// ErrProtocol: the file is not a prwlock segment, has an incompatible
	// layout version, or its shared state is corrupt (EPROTO).
	ErrProtocol = &lockError{syscall.EPROTO, "not a valid prwlock segment"}
	// ErrClosed: the handle was closed (EBADF).
	ErrClosed = &lockError{syscall.EBADF, "lock handle is closed"}
	// ErrPermission: the lock's file is owned by a user other than the
	// caller and root, or users other than its owner can write it, and the
	// caller did not set Options.MultiUser (EACCES). See checkTrust.
	ErrPermission = &lockError{syscall.EACCES, "permission denied"}
	// ErrInvalid: an argument is out of range or malformed (EINVAL).
	ErrInvalid = &lockError{syscall.EINVAL, "invalid argument"}
	// ErrSliceEnded: AcquireSlice reached the end of its slice; the wait is
	// still queued (EINTR). Call AcquireSlice again to resume it, or Cancel.
	ErrSliceEnded = &lockError{syscall.EINTR, "wait slice ended; the wait is still queued"}
	// ErrLost: the owner's hold or wait is gone: another process judged
	// the owner dead and recovered its slot (ENOTRECOVERABLE). Nothing was
	// written to the slot; the owner holds nothing now.
	ErrLost = &lockError{syscall.ENOTRECOVERABLE, "hold lost: another process recovered it, judging its owner dead"}
	// ErrInterrupted: the wait was cancelled by its context (ECANCELED).
	// The returned error also wraps the context's error.
	ErrInterrupted = &lockError{syscall.ECANCELED, "wait cancelled"}
)

// detail wraps a sentinel with more context while keeping errors.Is working.
func detail(sentinel *lockError, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)
}

// Errno maps any error returned by this package to the positive errno value
// the C API reports for it. nil maps to 0; an error with no errno maps to EIO.
func Errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var le *lockError
	if errors.As(err, &le) {
		return le.errno
	}
	var en syscall.Errno
	if errors.As(err, &en) {
		return en
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return syscall.ENOENT
	case errors.Is(err, fs.ErrExist):
		return syscall.EEXIST
	case errors.Is(err, fs.ErrPermission):
		return syscall.EACCES
	case errors.Is(err, errors.ErrUnsupported):
		return syscall.ENOSYS
	}
	return syscall.EIO
}
