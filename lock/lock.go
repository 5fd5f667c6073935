// Package lock is a reader-writer lock shared by the processes of one
// machine through a memory-mapped file.
//
// A Lock is fair: a waiting writer stops new readers from entering, and
// readers that queued during a write phase enter before the next writer, so
// neither side starves. A thread that holds read may take it again
// (recursive read) even while a writer waits. Asking for write while holding
// anything, or for read while holding write, returns ErrDeadlock instead of
// hanging.
//
// The lock survives its holders: when a process dies holding it, in read or
// write mode and by any means including SIGKILL, waiters notice within a
// poll interval (10 ms) and clean up after it. After a writer died holding
// it, every acquire is granted but returns ErrOwnerDead, until a writer that
// was told so releases it: that release marks the data consistent again.
//
// The uncontended paths make no system call and read no clock. Waiting uses
// shared futexes with absolute CLOCK_MONOTONIC deadlines.
//
// Memory ordering: a release synchronizes before the acquire that next
// obtains the lock in a conflicting mode, in any process; everything the
// releaser wrote to shared memory before releasing is visible to it.
//
// The shared-memory protocol is documented in layout.go. The segment must
// never be copied out of its mapping; handles refer to it in place.
package lock

import (
	"context"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// pollInterval bounds each futex sleep, so a waiter re-checks the liveness
// of the holders it waits for, its context and its handle that often.
const pollInterval = int64(10e6)

// Lock is a handle on a shared reader-writer lock. It is safe for
// concurrent use by many goroutines; each owner's holds are its own.
type Lock struct {
	seg    *segment
	name   string
	closed atomic.Bool

	// State of the sync.RWMutex-style methods (rwmutex.go).
	rwmu    sync.Mutex
	rOwners []Owner // synthetic owners holding read, most recent last
	wOwner  Owner   // synthetic owner holding write, 0 if none
	freeSyn []Owner // synthetic owners available for reuse
	nextSyn uint32
}

// Name returns the name the lock was opened with (for an anonymous lock,
// its generated path).
func (l *Lock) Name() string { return l.name }

// Path returns the file that holds the lock.
func (l *Lock) Path() string { return l.seg.path }

// Anonymous reports whether the lock was created by CreateAnonymous.
func (l *Lock) Anonymous() bool { return l.seg.anon }

func (l *Lock) enter() (*segment, error) {
	if l == nil || l.closed.Load() {
		return nil, ErrClosed
	}
	s := l.seg
	if !s.enter() {
		return nil, ErrClosed
	}
	return s, nil
}

func (s *segment) rec(o Owner) *ownerRec {
	return s.recs.get(o)
}

// grantResult turns a grant into nil or ErrOwnerDead, from the lock word
// seen at or after the grant.
func grantResult(st uint32) error {
	if st&stateOwnerDead != 0 {
		return ErrOwnerDead
	}
	return nil
}

func (l *Lock) acquire(ctx context.Context, o Owner, m Mode, deadline int64) (err error) {
	if o == 0 || uint32(o) == 0xffffffff || (m != ModeRead && m != ModeWrite) {
		return ErrInvalid
	}
	s, err := l.enter()
	if err != nil {
		return err
	}
	defer s.exit(&err, debug.SetPanicOnFault(true))
	r := s.rec(o)
	if r.slot >= 0 {
		if r.mode == ModeRead && m == ModeRead {
			// Recursive read: never consults the lock word, so it cannot
			// deadlock against a pending writer.
			atomic.AddUint32(s.count(int(r.slot)), 1)
			return grantResult(atomic.LoadUint32(s.state()))
		}
		return ErrDeadlock
	}
	if m == ModeRead {
		err = s.acquireRead(ctx, r, o, deadline)
	} else {
		err = s.acquireWrite(ctx, r, o, deadline)
	}
	if err == ErrTimeout && ctx != nil {
		// The deadline came from the context: match its error too.
		err = ctxError(ErrTimeout, context.DeadlineExceeded)
	}
	return err
}

func (s *segment) acquireRead(ctx context.Context, r *ownerRec, o Owner, deadline int64) error {
	// Fast path: publish the read hold, then look for a writer. A writer
	// CASes the lock word before it scans the slots, so one of us sees
	// the other.
	i, gen, err := s.claim(o, slotRead)
	if err != nil {
		return err
	}
	st := atomic.LoadUint32(s.state())
	if !hasWriter(st) {
		r.slot, r.gen, r.mode = int32(i), gen, ModeRead
		return grantResult(st)
	}
	return s.readSlow(ctx, r, i, gen, deadline)
}

// readSlow waits for read after the fast path met a writer.
func (s *segment) readSlow(ctx context.Context, r *ownerRec, i int, gen uint32, deadline int64) error {
	s.setSlot(i, gen, slotWaitRead)
	s.kickDrain() // the pending writer may have counted us as a reader
	if deadline != 0 {
		atomic.StoreInt64(s.since(i), MonotonicNow())
	}
	granted := func() error {
		r.slot, r.gen, r.mode = int32(i), gen, ModeRead
		if deadline != 0 {
			atomic.StoreInt64(s.since(i), MonotonicNow())
		}
		return grantResult(atomic.LoadUint32(s.state()))
	}
	for {
		if deadline == 0 {
			// Try: nothing to wait for, but a releasing writer may have
			// handed us the lock meanwhile.
			if s.cancelWait(i, gen, slotWaitRead) {
				return ErrBusy
			}
			return granted()
		}
		atomic.OrUint32(s.state(), stateReadersWaiting)
		seq := atomic.LoadUint32(s.readSeq())
		if s.slotState(i) == slotRead {
			return granted() // handed off by a releasing writer
		}
		st := atomic.LoadUint32(s.state())
		if !hasWriter(st) {
			if atomic.CompareAndSwapUint64(s.ctl(i), makeCtl(gen, slotWaitRead), makeCtl(gen, slotRead)) {
				if !hasWriter(atomic.LoadUint32(s.state())) {
					return granted()
				}
				s.setSlot(i, gen, slotWaitRead) // a writer got the field first
				s.kickDrain()
				continue
			}
			return granted() // the CAS failed only because we were handed read
		}
		if _, ok := s.writerSlot(st); !ok {
			s.cancelWait(i, gen, slotWaitRead)
			return detail(ErrProtocol, "corrupt lock word %#x", st)
		}
		if err := s.sleep(ctx, s.readSeq(), seq, deadline, func() { s.checkWriter(st) }); err != nil {
			if s.cancelWait(i, gen, slotWaitRead) {
				return err
			}
			return granted() // handed off just as we gave up: take it
		}
	}
}

// cancelWait withdraws waiting slot i. It returns false when the slot was
// handed the lock meanwhile (the caller then holds it).
func (s *segment) cancelWait(i int, gen uint32, st uint32) bool {
	if !atomic.CompareAndSwapUint64(s.ctl(i), makeCtl(gen, st), makeCtl(gen, slotFree)) {
		return false
	}
	s.free(i)
	return true
}

// sleep waits on futex addr while it holds seq, for at most one poll
// interval. It returns ErrTimeout at the deadline, the context's error when
// it is done, ErrClosed when the handle closes, and nil otherwise. When the
// poll interval elapses it runs check, which looks for dead holders.
func (s *segment) sleep(ctx context.Context, addr *uint32, seq uint32, deadline int64, check func()) error {
	now := MonotonicNow()
	if deadline > 0 && now >= deadline {
		return ErrTimeout
	}
	until := now + pollInterval
	if deadline > 0 && deadline < until {
		until = deadline
	}
	if futexWait(addr, seq, until) {
		if deadline > 0 && MonotonicNow() >= deadline {
			return ErrTimeout
		}
		check()
	}
	if ctx != nil {
		if err := ctx.Err(); err != nil {
			if err == context.DeadlineExceeded {
				return ctxError(ErrTimeout, err)
			}
			return ctxError(ErrInterrupted, err)
		}
	}
	if s.closing() {
		return ErrClosed
	}
	return nil
}

func ctxError(sentinel *lockError, err error) error {
	return &joinedError{sentinel, err}
}

// joinedError matches both a sentinel and a context error.
type joinedError struct {
	sentinel *lockError
	ctxErr   error
}

func (e *joinedError) Error() string   { return e.sentinel.Error() + ": " + e.ctxErr.Error() }
func (e *joinedError) Unwrap() []error { return []error{e.sentinel, e.ctxErr} }

func (s *segment) acquireWrite(ctx context.Context, r *ownerRec, o Owner, deadline int64) error {
	i, gen, err := s.claim(o, slotWaitWrite)
	if err != nil {
		return err
	}
	woken := false
	var st uint32
	// Phase 1: own the writer field. It blocks new readers at once.
	for {
		st = atomic.LoadUint32(s.state())
		if !hasWriter(st) {
			nw := withWriter(st, i)
			if woken {
				// Other writers may still sleep: keep the bit so our
				// release wakes the next one.
				nw |= stateWritersWaiting
			}
			if atomic.CompareAndSwapUint32(s.state(), st, nw) {
				st = nw
				break
			}
			continue
		}
		if _, ok := s.writerSlot(st); !ok {
			s.cancelWait(i, gen, slotWaitWrite)
			return detail(ErrProtocol, "corrupt lock word %#x", st)
		}
		if deadline == 0 {
			s.cancelWait(i, gen, slotWaitWrite)
			return ErrBusy
		}
		if atomic.LoadInt64(s.since(i)) == 0 {
			atomic.StoreInt64(s.since(i), MonotonicNow())
		}
		atomic.OrUint32(s.state(), stateWritersWaiting)
		seq := atomic.LoadUint32(s.writeSeq())
		if st = atomic.LoadUint32(s.state()); !hasWriter(st) {
			continue
		}
		w := st
		if err := s.sleep(ctx, s.writeSeq(), seq, deadline, func() { s.checkWriter(w) }); err != nil {
			s.cancelWait(i, gen, slotWaitWrite)
			// Pass on a wake-up we may have consumed.
			if !hasWriter(atomic.LoadUint32(s.state())) {
				s.wakeFor(stateWritersWaiting)
			}
			return err
		}
		woken = true
	}
	// Phase 2: wait for the readers inside to leave.
	if s.anyReader() {
		if deadline == 0 {
			s.abortWrite(i, gen)
			return ErrBusy
		}
		if atomic.LoadInt64(s.since(i)) == 0 {
			atomic.StoreInt64(s.since(i), MonotonicNow())
		}
		for {
			atomic.OrUint32(s.state(), stateDrainWaiting)
			seq := atomic.LoadUint32(s.drainSeq())
			if !s.anyReader() {
				break
			}
			if err := s.sleep(ctx, s.drainSeq(), seq, deadline, s.checkReaders); err != nil {
				s.abortWrite(i, gen)
				return err
			}
		}
		atomic.AndUint32(s.state(), ^uint32(stateDrainWaiting))
		atomic.StoreInt64(s.since(i), MonotonicNow())
	}
	s.setSlot(i, gen, slotWrite)
	r.slot, r.gen, r.mode = int32(i), gen, ModeWrite
	err = grantResult(atomic.LoadUint32(s.state()))
	r.told = err != nil
	return err
}

// abortWrite gives up the writer field and the slot of a writer that never
// drained the readers: nothing was written, so no owner-dead mark.
func (s *segment) abortWrite(i int, gen uint32) {
	s.clearWriter(i, false, false)
	s.setSlot(i, gen, slotFree)
	s.free(i)
}

func (l *Lock) release(o Owner) (err error) {
	s, err := l.enter()
	if err != nil {
		return err
	}
	defer s.exit(&err, debug.SetPanicOnFault(true))
	if o == 0 {
		return ErrInvalid
	}
	r := s.rec(o)
	if r.slot < 0 {
		return ErrNotHeld
	}
	s.releaseRec(r, false)
	return nil
}

// releaseRec drops r's hold. force marks a write hold's data inconsistent
// (the owner never released it itself).
func (s *segment) releaseRec(r *ownerRec, force bool) {
	i, gen := int(r.slot), r.gen
	if r.mode == ModeRead {
		// count holds the recursion levels beyond the first.
		if !force && atomic.LoadUint32(s.count(i)) > 0 {
			atomic.AddUint32(s.count(i), ^uint32(0))
			return
		}
		s.setSlot(i, gen, slotFree)
		s.kickDrain()
	} else {
		// Hand the lock to the readers that queued behind us before
		// opening it to the next writer.
		s.handOffReaders()
		if s.clearWriter(i, force, r.told && !force) && force {
			atomic.AddUint64(s.u64(offOwnerDeaths), 1)
		}
		s.setSlot(i, gen, slotFree)
	}
	s.free(i)
	r.slot, r.mode, r.told = -1, ModeNone, false
}

func (l *Lock) downgrade(o Owner) (err error) {
	s, err := l.enter()
	if err != nil {
		return err
	}
	defer s.exit(&err, debug.SetPanicOnFault(true))
	if o == 0 {
		return ErrInvalid
	}
	r := s.rec(o)
	if r.slot < 0 || r.mode != ModeWrite {
		return ErrNotHeld
	}
	i := int(r.slot)
	// Still owning the writer field, become a reader, admit the waiting
	// readers, then open the field: no writer can get in between.
	s.setSlot(i, r.gen, slotRead)
	s.handOffReaders()
	s.clearWriter(i, false, r.told)
	r.mode, r.told = ModeRead, false
	return nil
}

func (l *Lock) held(o Owner) (m Mode) {
	s, err := l.enter()
	if err != nil {
		return ModeNone
	}
	defer s.exit(&err, debug.SetPanicOnFault(true))
	if r := s.recs.load(o); r != nil && r.slot >= 0 {
		return r.mode
	}
	return ModeNone
}

// OwnerDied reports whether a writer died holding the lock and no writer
// that was told has released it since: the protected data may be
// inconsistent.
func (l *Lock) OwnerDied() (dead bool) {
	s, err := l.enter()
	if err != nil {
		return false
	}
	defer s.exit(&err, debug.SetPanicOnFault(true))
	return atomic.LoadUint32(s.state())&stateOwnerDead != 0
}

// Recover checks every slot and cleans up after dead owners. Waiters do
// this by themselves; Recover is for tools. It returns how many slots it
// recovered.
func (l *Lock) Recover() (n int, err error) {
	s, err := l.enter()
	if err != nil {
		return 0, err
	}
	defer s.exit(&err, debug.SetPanicOnFault(true))
	return s.sweep(), nil
}

// Stats returns a snapshot of the lock's state.
func (l *Lock) Stats() (out Stats, err error) {
	s, err := l.enter()
	if err != nil {
		return Stats{}, err
	}
	defer s.exit(&err, debug.SetPanicOnFault(true))
	st := atomic.LoadUint32(s.state())
	out = Stats{
		Capacity:    s.capacity,
		Recoveries:  atomic.LoadUint64(s.u64(offRecoveries)),
		OwnerDeaths: atomic.LoadUint64(s.u64(offOwnerDeaths)),
		OwnerDead:   st&stateOwnerDead != 0,
	}
	for i := 0; i < s.capacity; i++ {
		if atomic.LoadUint64(s.owner(i)) != 0 {
			out.UsedSlots++
		}
	}
	s.forEachUsed(func(i int) bool {
		switch s.slotState(i) {
		case slotRead:
			out.Readers++
		case slotWaitRead:
			out.WaitingReaders++
		case slotWaitWrite:
			out.WaitingWriters++
		}
		return true
	})
	if w, ok := s.writerSlot(st); ok && w >= 0 {
		own := atomic.LoadUint64(s.owner(w))
		out.WriterPID, out.WriterTID = uint32(own>>32), uint32(own)
		out.WriterActive = s.slotState(w) == slotWrite
	}
	out.Attached = s.attachedCount()
	return out, nil
}

// Holders lists the slots that hold or wait for the lock.
func (l *Lock) Holders() (out []Holder, err error) {
	s, err := l.enter()
	if err != nil {
		return nil, err
	}
	defer s.exit(&err, debug.SetPanicOnFault(true))
	now := MonotonicNow()
	s.forEachUsed(func(i int) bool {
		own := atomic.LoadUint64(s.owner(i))
		h := Holder{PID: uint32(own >> 32), TID: uint32(own)}
		switch s.slotState(i) {
		case slotRead:
			h.Mode, h.Count = ModeRead, atomic.LoadUint32(s.count(i))+1
		case slotWrite:
			h.Mode = ModeWrite
		case slotWaitRead:
			h.Mode, h.Waiting = ModeRead, true
		case slotWaitWrite:
			h.Mode, h.Waiting = ModeWrite, true
		default:
			return true
		}
		if own == 0 || uint32(own) == 0xffffffff {
			return true
		}
		// The fast path reads no clock: stamp holds on first sight.
		atomic.CompareAndSwapInt64(s.since(i), 0, now)
		h.Since = atomic.LoadInt64(s.since(i))
		out = append(out, h)
		return true
	})
	return out, nil
}
