package lock

import (
	"context"
	"sync"
	"time"
)

// The methods in this file give Go programs the shape of sync.RWMutex.
// Unlike Acquire and Release, they are not tied to a thread: like
// sync.RWMutex, a read lock taken on one goroutine may be released on
// another. Each hold gets an owner of its own, made up by the handle, so
// these holds never recurse and never trip the deadlock checks; as with
// sync.RWMutex, recursive read locking can deadlock against a waiting
// writer. A grant with ErrOwnerDead counts as success here, and since these
// methods cannot tell their caller, such a grant does not count as told:
// Unlock leaves the owner-dead mark in place. Ask OwnerDied whether the
// data needs repair; a writer that repairs it clears the mark by taking the
// lock with Acquire (which returns ErrOwnerDead) and releasing it.

func (l *Lock) synOwner() Owner {
	l.rwmu.Lock()
	defer l.rwmu.Unlock()
	if n := len(l.freeSyn); n > 0 {
		o := l.freeSyn[n-1]
		l.freeSyn = l.freeSyn[:n-1]
		return o
	}
	l.nextSyn++
	return syntheticOwnerBit | Owner(l.nextSyn)
}

func (l *Lock) putSyn(o Owner) {
	l.rwmu.Lock()
	l.freeSyn = append(l.freeSyn, o)
	l.rwmu.Unlock()
}

// lockAs acquires with a fresh synthetic owner and records the hold.
func (l *Lock) lockAs(ctx context.Context, m Mode, deadline int64) error {
	if l == nil {
		return ErrClosed
	}
	o := l.synOwner()
	err := l.acquireWait(o, m, waitCtl{ctx: ctx, deadline: deadline, silent: true})
	if err != nil && err != ErrOwnerDead {
		l.putSyn(o)
		return err
	}
	l.rwmu.Lock()
	if m == ModeRead {
		l.rOwners = append(l.rOwners, o)
	} else {
		l.wOwner = o
	}
	l.rwmu.Unlock()
	return nil
}

func deadlineAfter(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return MonotonicNow() + int64(d)
}

func mustLock(err error) {
	if err != nil {
		panic("prwlock: " + err.Error())
	}
}

// RLock locks l for reading, waiting as long as it takes. It panics if the
// lock cannot be used (a closed handle, a corrupt segment, a full holder
// table); use RLockContext to get those as errors.
func (l *Lock) RLock() { mustLock(l.lockAs(nil, ModeRead, -1)) }

// Lock locks l for writing, waiting as long as it takes. It panics like
// RLock.
func (l *Lock) Lock() { mustLock(l.lockAs(nil, ModeWrite, -1)) }

// TryRLock tries to lock l for reading without waiting.
func (l *Lock) TryRLock() bool { return l.lockAs(nil, ModeRead, 0) == nil }

// TryLock tries to lock l for writing without waiting.
func (l *Lock) TryLock() bool { return l.lockAs(nil, ModeWrite, 0) == nil }

// RLockTimeout locks l for reading, waiting at most d (ErrTimeout).
func (l *Lock) RLockTimeout(d time.Duration) error { return l.lockAs(nil, ModeRead, deadlineAfter(d)) }

// LockTimeout locks l for writing, waiting at most d (ErrTimeout).
func (l *Lock) LockTimeout(d time.Duration) error { return l.lockAs(nil, ModeWrite, deadlineAfter(d)) }

// RLockContext locks l for reading, waiting until ctx is done.
func (l *Lock) RLockContext(ctx context.Context) error {
	return l.lockAs(ctx, ModeRead, ctxDeadline(ctx))
}

// LockContext locks l for writing, waiting until ctx is done.
func (l *Lock) LockContext(ctx context.Context) error {
	return l.lockAs(ctx, ModeWrite, ctxDeadline(ctx))
}

func ctxDeadline(ctx context.Context) int64 {
	if d, ok := ctx.Deadline(); ok {
		if dl := MonotonicNow() + int64(time.Until(d)); dl > 0 {
			return dl
		}
		return 1
	}
	return -1
}

// RUnlock undoes one RLock. It panics if l is not read-locked by this
// handle, as sync.RWMutex does.
func (l *Lock) RUnlock() {
	l.rwmu.Lock()
	n := len(l.rOwners)
	if n == 0 {
		l.rwmu.Unlock()
		panic("prwlock: RUnlock of unlocked lock")
	}
	o := l.rOwners[n-1]
	l.rOwners = l.rOwners[:n-1]
	l.rwmu.Unlock()
	mustLock(l.release(o, false))
	l.putSyn(o)
}

// Unlock undoes Lock. It panics if l is not write-locked by this handle.
func (l *Lock) Unlock() {
	l.rwmu.Lock()
	o := l.wOwner
	l.wOwner = 0
	l.rwmu.Unlock()
	if o == 0 {
		panic("prwlock: Unlock of unlocked lock")
	}
	mustLock(l.release(o, false))
	l.putSyn(o)
}

// DowngradeLock turns the write lock taken by Lock into a read lock,
// atomically; undo it with RUnlock.
func (l *Lock) DowngradeLock() {
	l.rwmu.Lock()
	o := l.wOwner
	l.wOwner = 0
	if o != 0 {
		l.rOwners = append(l.rOwners, o)
	}
	l.rwmu.Unlock()
	if o == 0 {
		panic("prwlock: DowngradeLock of a lock not write-locked")
	}
	mustLock(l.downgrade(o))
}

// RLocker returns a sync.Locker whose Lock and Unlock call RLock and
// RUnlock.
func (l *Lock) RLocker() sync.Locker { return rlocker{l} }

type rlocker struct{ l *Lock }

func (r rlocker) Lock()   { r.l.RLock() }
func (r rlocker) Unlock() { r.l.RUnlock() }
