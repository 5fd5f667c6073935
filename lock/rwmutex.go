package lock

import (
	"context"
	"runtime/debug"
	"sync"
	"sync/atomic"
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

// The handle keeps its synthetic owners in cells, so that the common case
// takes no mutex: an RLock or Lock takes a free cell by CAS, acquires with
// its owner, and marks the cell with the mode it holds; RUnlock and Unlock
// take a cell in that mode by CAS and release it. A cell is busy for the
// length of one such call. When every cell is busy or holding, the
// general path below serves: an owner from freeSyn, and the hold recorded
// under rwmu. Either way every hold has an owner of its own.
const synCells = 8

// Cell states.
const (
	cellEmpty = iota // no owner yet
	cellFree         // owner ready, holds nothing (it may keep an idle slot)
	cellBusy         // one call runs on it, counted in the segment's active calls
	cellRead         // holds read
	cellWrite        // holds write
	// One fast path runs on it, counted in no active calls: the cell
	// itself keeps the mapping and the record alive (see takeCell).
	cellInFlight
)

// synCell is one synthetic owner of a handle and its record. o and r are
// written once, by the call that takes the cell out of cellEmpty, before
// it publishes the cell's next state.
type synCell struct {
	state atomic.Uint32
	o     Owner
	r     *ownerRec
	_     [64 - 16]byte // one cache line each: cells are taken by different goroutines
}

// synOwner returns an owner for the general path.
func (l *Lock) synOwner() Owner {
	l.rwmu.Lock()
	defer l.rwmu.Unlock()
	if n := len(l.freeSyn); n > 0 {
		o := l.freeSyn[n-1]
		l.freeSyn = l.freeSyn[:n-1]
		return o
	}
	return l.newSynOwner()
}

// newSynOwner makes up an owner no other handle of this process uses:
// the handles of one segment share its owner records, so the numbers
// come from the segment.
func (l *Lock) newSynOwner() Owner {
	next := &l.nextSyn
	if l.seg != nil {
		next = &l.seg.nextSyn
	}
	for {
		if o := syntheticOwnerBit | Owner(next.Add(1)&^uint32(syntheticOwnerBit)); o != tombstone {
			return o
		}
	}
}

func (l *Lock) putSyn(o Owner) {
	l.rwmu.Lock()
	l.freeSyn = append(l.freeSyn, o)
	l.rwmu.Unlock()
}

// cellLock takes the lock in mode m through a free cell, waiting as w
// says. done is false when no cell was free or the handle is closed: the
// caller then takes the general path (which reports the closed handle).
func (l *Lock) cellLock(m Mode, w waitCtl) (done bool, err error) {
	if l.remote != nil {
		return false, nil
	}
	for k := range l.cells {
		c := &l.cells[k]
		st := c.state.Load()
		if st != cellFree && st != cellEmpty || !c.state.CompareAndSwap(st, cellBusy) {
			continue
		}
		if st == cellEmpty {
			c.o = l.newSynOwner()
		}
		r, err := l.cellAcquire(c, m, w)
		switch {
		case err == nil || err == ErrOwnerDead:
			c.state.Store(uint32(cellRead + m - ModeRead))
			return true, nil
		case r == nil:
			c.state.Store(st)
			return false, nil
		}
		c.state.Store(cellFree)
		return true, err
	}
	return false, nil
}

// cellAcquire is acquireWait for cell c's owner. It returns the cell's
// record, nil if the handle is closed. The cell stays busy while the call
// waits; Close does not look at cells (the call counts in active, as every
// operation does), and other calls take other cells meanwhile.
func (l *Lock) cellAcquire(c *synCell, m Mode, w waitCtl) (r *ownerRec, err error) {
	s, err := l.enter()
	if err != nil {
		return nil, err
	}
	defer s.exit(&err, debug.SetPanicOnFault(true))
	if c.r == nil {
		c.r = s.rec(c.o)
	}
	r = c.r
	if m == ModeRead {
		if err, ok := s.readFast(r); ok {
			return r, err
		}
	}
	return r, s.acquireRec(r, c.o, m, w)
}

// takeCell takes a cell in state st (cellFree, cellRead or cellWrite) for
// a fast path, making it cellInFlight, or returns nil (also when the handle
// is closed). A fast path counts in no active call, which would cost two
// atomic additions per call: Close waits instead for the handle's cells in
// flight (waitInFlight) after it marks the handle closed, and a fast path
// looks at closed after it marks its cell. Both are sequentially
// consistent, so one of the two sees the other: either the fast path
// backs off before it touches the segment or its record, or Close waits
// until it is done, before the last close releases the records and unmaps.
func (l *Lock) takeCell(st uint32) *synCell {
	for k := range l.cells {
		if c := &l.cells[k]; c.state.Load() == st && c.state.CompareAndSwap(st, cellInFlight) {
			if l.closed.Load() {
				c.state.Store(st)
				return nil
			}
			return c
		}
	}
	return nil
}

// waitInFlight waits until no fast path runs on l's cells (see takeCell).
// Close calls it once l is marked closed; fast paths never wait, so this
// takes as long as the calls already running.
func (l *Lock) waitInFlight() {
	for k := range l.cells {
		for l.cells[k].state.Load() == cellInFlight {
			time.Sleep(10 * time.Microsecond)
		}
	}
}

// The fast paths of RLock, RUnlock, Lock and Unlock run in the methods
// themselves, each a few calls deep: on a cell that takeCell took, they
// run readFast in the slot the cell's owner keeps idle, releaseReadFast,
// writeAlone and writeFast, or releaseRec. Like every operation they run with
// debug.SetPanicOnFault on (see exit), and a fault on the mapping only
// gives the cell back as it was: the slow path (the cell path or the
// general path) then runs the call again and reports it, ErrProtocol. The
// deferred closure that catches a fault calls recover only on the way out
// of a panic (done false): recover costs a call.

// fastFault gives cell c back in state from after a fault in a fast path
// (p, what the deferred closure recovered), and restores the fault
// setting (oldFault). Any other panic goes on.
func fastFault(c *synCell, from uint32, oldFault bool, p any) {
	debug.SetPanicOnFault(oldFault)
	c.state.Store(from)
	if p != nil {
		mustBeFault(p)
	}
}

// cellWriteWait goes on with Lock's fast path in cell c, whose slot i
// (gen) must wait for write (fastWait). A wait may last: the call moves
// from the cell in flight, which Close waits for, to the segment's active
// count, which Close interrupts (see sleep), and then waits as cellAcquire
// does. The cell in flight holds off its handle's Close until then, so the
// segment cannot be closing: the count cannot refuse it.
func (l *Lock) cellWriteWait(c *synCell, i int, gen uint32) error {
	s := l.seg
	s.active.Add(1) // balanced by exit
	c.state.Store(cellBusy)
	if err := s.writeWaitIn(c.r, i, gen); err != nil && err != ErrOwnerDead {
		c.state.Store(cellFree)
		return err
	}
	c.state.Store(cellWrite)
	return nil
}

func (s *segment) writeWaitIn(r *ownerRec, i int, gen uint32) (err error) {
	defer s.exit(&err, debug.SetPanicOnFault(true))
	w := waitCtl{deadline: -1, silent: true}
	return s.writeWait(&w, r, i, gen)
}

// cellUnlock releases a hold in mode m that a cell has. It reports false
// if no cell holds in that mode.
func (l *Lock) cellUnlock(m Mode) bool {
	want := uint32(cellRead + m - ModeRead)
	for k := range l.cells {
		c := &l.cells[k]
		if c.state.Load() != want || !c.state.CompareAndSwap(want, cellBusy) {
			continue
		}
		err := l.cellRelease(c.r)
		if err == ErrClosed {
			c.state.Store(want) // still held: the last close releases it
		} else {
			c.state.Store(cellFree)
		}
		mustLock(err)
		return true
	}
	return false
}

// cellRelease is release for a cell's record.
func (l *Lock) cellRelease(r *ownerRec) (err error) {
	s, err := l.enter()
	if err != nil {
		return err
	}
	defer s.exit(&err, debug.SetPanicOnFault(true))
	if r.slot < 0 {
		return ErrNotHeld
	}
	return s.releaseRec(r, false)
}

// cellDowngrade turns a cell's write hold into a read hold. It reports
// false if no cell holds write.
func (l *Lock) cellDowngrade() bool {
	for k := range l.cells {
		c := &l.cells[k]
		if c.state.Load() != cellWrite || !c.state.CompareAndSwap(cellWrite, cellBusy) {
			continue
		}
		err := l.downgradeRec(c.r)
		if err == nil {
			c.state.Store(cellRead)
		} else {
			c.state.Store(cellFree)
		}
		mustLock(err)
		return true
	}
	return false
}

// lockAs acquires with a fresh synthetic owner and records the hold: a
// cell's if one is free and the lock can be had at once, else the general
// path's.
func (l *Lock) lockAs(ctx context.Context, m Mode, deadline int64) error {
	if l == nil {
		return ErrClosed
	}
	w := waitCtl{ctx: ctx, deadline: deadline, silent: true}
	if done, err := l.cellLock(m, w); done {
		return err
	}
	o := l.synOwner()
	err := l.acquireWait(o, m, w)
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
func (l *Lock) RLock() {
	c := l.takeCell(cellFree)
	if c == nil || c.r == nil {
		l.rlockSlow(c)
		return
	}
	old, done := debug.SetPanicOnFault(true), false
	defer func() {
		if !done {
			fastFault(c, cellFree, old, recover())
			l.rlockSlow(nil)
		}
	}()
	// Any error (ErrLost: the back-off found the slot recovered) is left
	// to the slow path, which claims afresh.
	err, ok := l.seg.readFast(c.r)
	debug.SetPanicOnFault(old)
	done = true
	if ok && (err == nil || err == ErrOwnerDead) {
		c.state.Store(cellRead)
		return
	}
	l.rlockSlow(c)
}

// rlockSlow is RLock after its fast path, which gives back cell c if it
// took one.
func (l *Lock) rlockSlow(c *synCell) {
	if c != nil {
		c.state.Store(cellFree)
	}
	mustLock(l.lockAs(nil, ModeRead, -1))
}

// Lock locks l for writing, waiting as long as it takes. It panics like
// RLock.
func (l *Lock) Lock() {
	c := l.takeCell(cellFree)
	if c == nil || c.r == nil {
		l.lockSlow(c)
		return
	}
	old, done := debug.SetPanicOnFault(true), false
	defer func() {
		if !done {
			fastFault(c, cellFree, old, recover())
			l.lockSlow(nil)
		}
	}()
	err, ok := l.seg.writeAlone(c.r)
	res, i, gen := fastDone, 0, uint32(0)
	if !ok {
		err, res, i, gen = l.seg.writeFast(c.r, true)
	}
	debug.SetPanicOnFault(old)
	done = true
	switch {
	case res == fastWait:
		mustLock(l.cellWriteWait(c, i, gen))
	case res == fastNo:
		l.lockSlow(c)
	case err == nil || err == ErrOwnerDead:
		c.state.Store(cellWrite)
	default:
		c.state.Store(cellFree)
		mustLock(err)
	}
}

// lockSlow is Lock after its fast path, which gives back cell c if it
// took one.
func (l *Lock) lockSlow(c *synCell) {
	if c != nil {
		c.state.Store(cellFree)
	}
	mustLock(l.lockAs(nil, ModeWrite, -1))
}

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
	c := l.takeCell(cellRead)
	if c == nil || c.r == nil {
		l.runlockSlow(c)
		return
	}
	old, done := debug.SetPanicOnFault(true), false
	defer func() {
		if !done {
			fastFault(c, cellRead, old, recover())
			l.runlockSlow(nil)
		}
	}()
	ok := l.seg.releaseReadFast(c.r)
	debug.SetPanicOnFault(old)
	done = true
	if ok {
		c.state.Store(cellFree)
		return
	}
	l.runlockSlow(c)
}

// runlockSlow is RUnlock after its fast path, which gives back cell c if
// it took one.
func (l *Lock) runlockSlow(c *synCell) {
	if c != nil {
		c.state.Store(cellRead)
	}
	if l.cellUnlock(ModeRead) {
		return
	}
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
	c := l.takeCell(cellWrite)
	if c == nil || c.r == nil || c.r.slot < 0 {
		l.unlockSlow(c)
		return
	}
	old, done := debug.SetPanicOnFault(true), false
	defer func() {
		if !done {
			fastFault(c, cellWrite, old, recover())
			l.unlockSlow(nil)
		}
	}()
	err := l.seg.releaseRec(c.r, false)
	debug.SetPanicOnFault(old)
	done = true
	c.state.Store(cellFree)
	mustLock(err)
}

// unlockSlow is Unlock after its fast path, which gives back cell c if it
// took one.
func (l *Lock) unlockSlow(c *synCell) {
	if c != nil {
		c.state.Store(cellWrite)
	}
	if l.cellUnlock(ModeWrite) {
		return
	}
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
	if l.cellDowngrade() {
		return
	}
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
