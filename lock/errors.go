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
	// ErrFull: the lock is at its capacity (EAGAIN): every holder slot is
	// in use by a thread that holds or waits, or, when attaching to an
	// anonymous lock, every attachment entry by a process that has it open.
	// It comes at once, never after a wait. Options.Capacity raises the
	// limit of a lock being created.
	ErrFull = &lockError{syscall.EAGAIN, "lock is full (its capacity is reached)"}
	// ErrProtocol: the file is not a prwlock segment, has an incompatible
	// layout version, or its shared state is corrupt (EPROTO).
	ErrProtocol = &lockError{syscall.EPROTO, "not a valid prwlock segment or token, or an incompatible layout version"}
	// ErrClosed: the handle was closed (EBADF).
	ErrClosed = &lockError{syscall.EBADF, "lock handle is closed, or not a live handle"}
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
	// ErrUnavailable: the server of a remote lock did not answer: it is
	// unreachable, or its cluster has no quorum (ENOTCONN). Nothing was
	// granted.
	ErrUnavailable = &lockError{syscall.ENOTCONN, "lock server unavailable (unreachable, or no quorum)"}
	// ErrNoFence: fencing tokens exist for remote locks only (ENOTSUP).
	ErrNoFence = &lockError{syscall.ENOTSUP, "not supported on this lock (a local lock has no fencing token)"}
)

// fullError is ErrFull for segment s: which table is exhausted, its size,
// and the creation option that raises it.
func (s *segment) fullError(what string) error {
	return detail(ErrFull, "%s: all %d %s are in use; create the lock with a larger Options.Capacity (at most %d)",
		s.path, s.capacity, what, MaxCapacity)
}

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
