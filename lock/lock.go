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
	remote remote // non-nil for a lock opened by URL (remote.go); seg is then nil

	// Set at open: the handle was opened with Options.MultiUser, and the
	// owner its file had then. Token carries both (see open_linux.go).
	multiUser bool
	ownerUID  uint32

	// State of the sync.RWMutex-style methods (rwmutex.go).
	cells   [synCells]synCell
	rwmu    sync.Mutex
	rOwners []Owner       // general path: synthetic owners holding read, most recent last
	wOwner  Owner         // general path: synthetic owner holding write, 0 if none
	freeSyn []Owner       // general path: synthetic owners available for reuse
	nextSyn atomic.Uint32 // a remote lock's synthetic owners (a local one's come from its segment)
}

// Name returns the name the lock was opened with (for an anonymous lock,
// its generated path).
func (l *Lock) Name() string { return l.name }

// Path returns the file that holds the lock (a remote lock: its URL).
func (l *Lock) Path() string {
	if l.remote != nil {
		return l.name
	}
	return l.seg.path
}

// Anonymous reports whether the lock was created by CreateAnonymous.
func (l *Lock) Anonymous() bool { return l.remote == nil && l.seg.anon }

// rem returns the remote backend of an open remote lock, or nil (a closed
// handle then fails in enter).
func (l *Lock) rem() remote {
	if l == nil || l.remote == nil || l.closed.Load() {
		return nil
	}
	return l.remote
}

func (l *Lock) enter() (*segment, error) {
	if l == nil || l.closed.Load() {
		return nil, ErrClosed
	}
	if l.remote != nil {
		return nil, detail(ErrInvalid, "a remote lock has no shared-memory segment")
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

// waitCtl says how long an acquire may wait.
type waitCtl struct {
	ctx      context.Context // nil: no context
	deadline int64           // absolute CLOCK_MONOTONIC ns; 0: try only; <0: none
	sliceEnd int64           // >0: at this time return ErrSliceEnded, still queued
	// silent: the caller cannot pass ErrOwnerDead on to its user, so the
	// grant does not count as told and its release keeps the mark.
	silent bool
	// lastCheck is when this wait last looked for dead or stopped
	// processes (0: not yet); see sleep.
	lastCheck int64
}

func (l *Lock) acquire(ctx context.Context, o Owner, m Mode, deadline int64) error {
	return l.acquireWait(o, m, waitCtl{ctx: ctx, deadline: deadline})
}

func (l *Lock) acquireWait(o Owner, m Mode, w waitCtl) (err error) {
	if o == 0 || o == tombstone || (m != ModeRead && m != ModeWrite) {
		return ErrInvalid
	}
	if r := l.rem(); r != nil {
		return remoteAcquire(r, o, m, w)
	}
	s, err := l.enter()
	if err != nil {
		return err
	}
	defer s.exit(&err, debug.SetPanicOnFault(true))
	r := s.rec(o)
	if m == ModeRead && w.sliceEnd == 0 {
		if err, ok := s.readFast(r); ok {
			return err
		}
	}
	return s.acquireRec(r, o, m, w)
}

// remoteAcquire and acquireRec take w by value: the waits keep pointers
// to it, which would make acquireWait allocate it on every call, the fast
// path's included.
//
//go:noinline
func remoteAcquire(r remote, o Owner, m Mode, w waitCtl) error { return r.acquire(o, m, &w) }

// readFast is acquireRead's fast path on the slot r keeps idle (the C
// engine's prwe_read_fast does the same): one CAS to publish, one load to
// look for a writer. ok is false, with nothing changed, whenever the full
// path must decide.
func (s *segment) readFast(r *ownerRec) (err error, ok bool) {
	i := int(r.idle)
	if i < 0 || r.slot >= 0 || hasWriter(atomic.LoadUint32(s.state())) {
		return nil, false
	}
	gen := r.idleGen
	if !s.move(i, gen, slotIdle, slotRead) {
		return nil, false
	}
	st := atomic.LoadUint32(s.state())
	if hasWriter(st) {
		// A writer came between: give the slot back as a release would
		// (the writer may have counted us) and let the full path queue.
		if !s.move(i, gen, slotRead, slotIdle) {
			r.idle = -1
			return s.lost(r), true
		}
		s.kickDrain()
		return nil, false
	}
	if atomic.LoadInt64(s.since(i)) != 0 {
		atomic.StoreInt64(s.since(i), 0)
	}
	r.idle = -1
	r.slot, r.gen, r.mode = int32(i), gen, ModeRead
	return grantResult(st), true
}

// releaseReadFast is release's fast path for a plain (not recursive) read
// hold (the C engine's prwe_release_fast does the same): one CAS back to
// idle and a look for a draining writer. It reports false, with nothing
// changed, for anything else.
func (s *segment) releaseReadFast(r *ownerRec) bool {
	i := int(r.slot)
	if i < 0 || r.mode != ModeRead || r.wait != ModeNone || atomic.LoadUint32(s.count(i)) != 0 ||
		!s.keep(r, i, r.gen, slotRead) {
		return false
	}
	s.kickDrain()
	r.slot, r.mode, r.told = -1, ModeNone, false
	return true
}

func (s *segment) acquireRec(r *ownerRec, o Owner, m Mode, w waitCtl) (err error) {
	switch {
	case r.slot < 0:
		err = s.acquireFresh(&w, r, o, m)
	case r.wait == m:
		// Resume the wait an earlier slice left queued.
		if m == ModeRead {
			err = s.readWait(&w, r, int(r.slot), r.gen)
		} else {
			err = s.writeWait(&w, r, int(r.slot), r.gen)
		}
	case r.wait != ModeNone:
		// A different request replaces the queued one.
		s.cancelPending(r)
		err = s.acquireFresh(&w, r, o, m)
	case r.mode == ModeRead && m == ModeRead:
		// Recursive read: never consults the lock word, so it cannot
		// deadlock against a pending writer.
		if !s.owns(int(r.slot), r.gen, slotRead) {
			return s.lost(r)
		}
		atomic.AddUint32(s.count(int(r.slot)), 1)
		return grantResult(atomic.LoadUint32(s.state()))
	default:
		return ErrDeadlock
	}
	if err == ErrTimeout && w.ctx != nil {
		// The deadline came from the context: match its error too.
		err = ctxError(ErrTimeout, context.DeadlineExceeded)
	}
	return err
}

// owns reports whether slot i is still ours, at generation gen and in
// state st.
func (s *segment) owns(i int, gen, st uint32) bool {
	return atomic.LoadUint64(s.ctl(i)) == makeCtl(gen, st) && atomic.LoadUint64(s.owner(i)) == s.key
}

// lost forgets r's slot, which another process recovered after judging
// its owner dead, and reports ErrLost. The slot is no longer ours to touch.
func (s *segment) lost(r *ownerRec) error {
	r.slot, r.mode, r.wait, r.told = -1, ModeNone, ModeNone, false
	return ErrLost
}

func (s *segment) acquireFresh(w *waitCtl, r *ownerRec, o Owner, m Mode) error {
	if m == ModeRead {
		return s.acquireRead(w, r, o)
	}
	return s.acquireWrite(w, r, o)
}

func (s *segment) acquireRead(w *waitCtl, r *ownerRec, o Owner) error {
	if hasWriter(atomic.LoadUint32(s.state())) {
		// A writer is in already: queue at once. A slot that never said
		// slotRead was never counted by a draining writer, so, unlike a
		// back-off, this wakes nobody.
		i, gen, err := s.claimFor(r, o, slotWaitRead)
		if err != nil {
			return err
		}
		if w.deadline != 0 {
			atomic.StoreInt64(s.since(i), MonotonicNow())
		}
		return s.readWait(w, r, i, gen)
	}
	// Fast path: publish the read hold, then look for a writer. A writer
	// CASes the lock word before it scans the slots, so one of us sees
	// the other.
	i, gen, err := s.claimFor(r, o, slotRead)
	if err != nil {
		return err
	}
	st := atomic.LoadUint32(s.state())
	if !hasWriter(st) {
		r.slot, r.gen, r.mode = int32(i), gen, ModeRead
		return grantResult(st)
	}
	// Slow path: back off and queue.
	if !s.move(i, gen, slotRead, slotWaitRead) {
		return s.lost(r)
	}
	s.kickDrain() // the pending writer may have counted us as a reader
	if w.deadline != 0 {
		atomic.StoreInt64(s.since(i), MonotonicNow())
	}
	return s.readWait(w, r, i, gen)
}

// readWait waits in slot i (slotWaitRead, or already granted) for read.
func (s *segment) readWait(w *waitCtl, r *ownerRec, i int, gen uint32) error {
	granted := func() error {
		r.slot, r.gen, r.mode, r.wait = int32(i), gen, ModeRead, ModeNone
		if w.deadline != 0 {
			atomic.StoreInt64(s.since(i), MonotonicNow())
		}
		return grantResult(atomic.LoadUint32(s.state()))
	}
	giveUp := func(err error) error {
		held, lerr := s.withdrawRead(i, gen)
		switch {
		case lerr != nil:
			return s.lost(r)
		case held:
			return granted() // granted just as we gave up: take it
		}
		r.slot, r.wait = -1, ModeNone
		return err
	}
	for {
		if w.deadline == 0 {
			// Try: nothing to wait for, but a releasing writer may have
			// granted us the lock meanwhile.
			return giveUp(ErrBusy)
		}
		// Announce the wait (the bit) only when about to sleep: a bit left
		// standing costs the next release a futex wake that wakes nobody.
		announce := atomic.LoadUint64(s.ctl(i)) == makeCtl(gen, slotWaitRead) &&
			hasWriter(atomic.LoadUint32(s.state()))
		if announce {
			atomic.OrUint32(s.state(), stateReadersWaiting)
		}
		seq := atomic.LoadUint32(s.readSeq())
		switch c := atomic.LoadUint64(s.ctl(i)); c {
		case makeCtl(gen, slotGranted):
			if s.move(i, gen, slotGranted, slotRead) {
				return granted() // handed off by a releasing writer
			}
			continue // revoked meanwhile: wait again
		case makeCtl(gen, slotWaitRead):
		default:
			return s.lost(r)
		}
		st := atomic.LoadUint32(s.state())
		if !hasWriter(st) {
			if s.move(i, gen, slotWaitRead, slotRead) {
				if !hasWriter(atomic.LoadUint32(s.state())) {
					return granted()
				}
				if !s.move(i, gen, slotRead, slotWaitRead) { // a writer got the field first
					return s.lost(r)
				}
				s.kickDrain()
			}
			continue // granted, revoked or lost meanwhile: look again
		}
		if _, ok := s.writerSlot(st); !ok {
			s.withdrawRead(i, gen)
			r.slot, r.wait = -1, ModeNone
			return detail(ErrProtocol, "corrupt lock word %#x", st)
		}
		if !announce {
			continue // a writer came in after our look
		}
		if st&stateReadersWaiting == 0 {
			// A clearing removed the bit since our Or, and may have moved
			// readSeq before we read it (a writer that gave up hands
			// nothing off): sleeping now could outlast the next release.
			continue
		}
		check := func() { s.checkWriter(atomic.LoadUint32(s.state())) }
		if err := s.sleep(w, s.readSeq(), seq, futexBitsetAny, check); err != nil {
			if err == ErrSliceEnded {
				r.slot, r.gen, r.wait = int32(i), gen, ModeRead
				return err
			}
			return giveUp(err)
		}
	}
}

// withdrawRead withdraws the wait of reader slot i, or accepts the grant it
// was given meanwhile (held). It fails with ErrLost if the slot was
// recovered by another process.
func (s *segment) withdrawRead(i int, gen uint32) (held bool, err error) {
	for {
		if s.cancelWait(i, gen, slotWaitRead) {
			return false, nil
		}
		if s.move(i, gen, slotGranted, slotRead) {
			return true, nil
		}
		// Neither: lost, unless a revoke (Granted -> WaitRead) came between.
		if c := atomic.LoadUint64(s.ctl(i)); c != makeCtl(gen, slotWaitRead) && c != makeCtl(gen, slotGranted) {
			return false, ErrLost
		}
	}
}

// cancelWait withdraws waiting slot i. It returns false when the slot is
// no longer in state st (granted meanwhile, or recovered).
func (s *segment) cancelWait(i int, gen uint32, st uint32) bool {
	if !s.move(i, gen, st, slotFree) {
		return false
	}
	s.free(i)
	if st == slotWaitWrite {
		// Writers that deferred to us as the oldest must look again.
		s.wakeWritersIfFree()
	}
	return true
}

// wakeWritersIfFree wakes the writer that is due when the writer field is
// free, so that it takes it.
func (s *segment) wakeWritersIfFree() {
	if st := atomic.LoadUint32(s.state()); !hasWriter(st) && st&stateWritersWaiting != 0 {
		first, _ := s.nextWriter(-1)
		s.wakeFor(stateWritersWaiting, first)
	}
}

// sleep waits on futex addr while it holds seq (with the futex bitset
// bits), at most until the next check is due. It returns ErrTimeout at the
// deadline, ErrSliceEnded at the end of the slice, the context's error when
// it is done, ErrClosed when the handle closes, and nil otherwise. Whenever a poll interval has passed
// since the wait's last check, whatever woke it, it runs check, which looks
// for dead (and stopped) processes: wake-ups by other threads must not
// postpone recovery.
func (s *segment) sleep(w *waitCtl, addr *uint32, seq, bits uint32, check func()) error {
	now := MonotonicNow()
	if w.deadline > 0 && now >= w.deadline {
		return ErrTimeout
	}
	if w.sliceEnd > 0 && now >= w.sliceEnd {
		return ErrSliceEnded
	}
	if w.lastCheck == 0 {
		w.lastCheck = now
	}
	until := w.lastCheck + pollInterval
	if w.deadline > 0 && w.deadline < until {
		until = w.deadline
	}
	if w.sliceEnd > 0 && w.sliceEnd < until {
		until = w.sliceEnd
	}
	if until > now {
		futexWait(addr, seq, until, bits)
		now = MonotonicNow()
	}
	if w.deadline > 0 && now >= w.deadline {
		return ErrTimeout
	}
	if w.sliceEnd > 0 && now >= w.sliceEnd {
		return ErrSliceEnded
	}
	if now-w.lastCheck >= pollInterval {
		check()
		w.lastCheck = now
	}
	if w.ctx != nil {
		if err := w.ctx.Err(); err != nil {
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

func (s *segment) acquireWrite(w *waitCtl, r *ownerRec, o Owner) error {
	if err, ok := s.writeAlone(r); ok {
		return err
	}
	switch err, res, i, gen := s.writeFast(r, w.silent); res {
	case fastDone:
		return err
	case fastWait:
		return s.writeWait(w, r, i, gen)
	}
	i, gen, err := s.claimFor(r, o, slotWaitWrite)
	if err != nil {
		return err
	}
	return s.writeWait(w, r, i, gen)
}

// writeAlone is acquireWrite for an owner that keeps an idle slot when
// nobody else is there: the lock word all zero (no writer, no sleeper, no
// owner-dead mark) and every other slot in use idle, so no reader is
// inside or waiting and no writer waits for its turn. The slot goes
// straight from slotIdle to slotWrite, then the field is taken; the look
// for readers comes after that CAS, as the Dekker argument requires, and
// if anyone came between, the field and the slot are given back and the
// general path decides (see Lone writers in layout.go). ok is false, with
// nothing held, when the general path must run.
func (s *segment) writeAlone(r *ownerRec) (err error, ok bool) {
	i := int(r.idle)
	if i < 0 || r.slot >= 0 || atomic.LoadUint32(s.state()) != 0 || !s.othersIdle(i) {
		return nil, false
	}
	gen := r.idleGen
	if !s.move(i, gen, slotIdle, slotWrite) {
		return nil, false // evicted or recovered: claimFor claims afresh
	}
	if atomic.CompareAndSwapUint32(s.state(), 0, withWriter(0, i)) {
		if s.othersIdle(i) {
			if atomic.LoadInt64(s.since(i)) != 0 {
				atomic.StoreInt64(s.since(i), 0)
			}
			r.idle = -1
			r.slot, r.gen, r.mode, r.wait, r.told = int32(i), gen, ModeWrite, ModeNone, false
			return nil, true
		}
		s.clearWriter(i, false, false) // someone came between: wakes whoever slept on it
	}
	if !s.move(i, gen, slotWrite, slotIdle) {
		r.idle = -1
		return s.lost(r), true // recovered meanwhile
	}
	return nil, false
}

// releaseAlone is releaseRec for a write hold when nobody else is there:
// the lock word names only slot i (no sleeper, no owner-dead mark to keep
// or clear) and every other slot in use is idle, so there is nobody to
// hand the lock to. The field is cleared first, then the slot goes from
// slotWrite to slotIdle. ok is false, with nothing changed, for anything
// else.
func (s *segment) releaseAlone(r *ownerRec) bool {
	i := int(r.slot)
	// owns first: a slot recovered and claimed by another owner could have
	// our index in the field.
	if !s.owns(i, r.gen, slotWrite) || !s.othersIdle(i) ||
		!atomic.CompareAndSwapUint32(s.state(), withWriter(0, i), 0) {
		return false
	}
	s.keep(r, i, r.gen, slotWrite) // fails only if recovered meanwhile: the hold ended anyway
	return true
}

// What a fast path decided.
const (
	fastNo   = iota // nothing changed: the general path must begin
	fastDone        // decided, as its error says
	fastWait        // (writeFast) slot i (gen) waits in slotWaitWrite: writeWait goes on
)

// writeFast is acquireWrite for an owner that keeps an idle slot, while
// the writer field is free: claimFor's, takeWriterField's and
// drainReaders' steps, in their order, without their loops. A scan is
// skipped only when every other slot in use is idle (othersIdle), where
// it would find nothing; whatever would wait or retry goes on in
// writeWait, which starts from where we are (slot i in slotWaitWrite,
// owning the field or not, fastWait): the caller calls it, so that Lock's
// fast path can stop counting as in flight first. silent is the wait's
// (see waitCtl).
func (s *segment) writeFast(r *ownerRec, silent bool) (err error, res int, i int, gen uint32) {
	i = int(r.idle)
	if i < 0 || r.slot >= 0 || hasWriter(atomic.LoadUint32(s.state())) {
		return nil, fastNo, 0, 0
	}
	// claimFor
	gen = r.idleGen
	r.idle = -1
	if !s.move(i, gen, slotIdle, slotWaitWrite) {
		return nil, fastNo, 0, 0 // evicted or recovered: claimFor claims afresh
	}
	if atomic.LoadInt64(s.since(i)) != 0 {
		atomic.StoreInt64(s.since(i), 0)
	}
	// takeWriterField's first round.
	st := atomic.LoadUint32(s.state())
	if hasWriter(st) || !s.othersIdle(i) && s.olderWriter(i) >= 0 || !s.owns(i, gen, slotWaitWrite) ||
		!atomic.CompareAndSwapUint32(s.state(), st, withWriter(st, i)) {
		return nil, fastWait, i, gen
	}
	// drainReaders' first look: slot i (slotWaitWrite) is no reader.
	if !s.othersIdle(i) && s.anyReader() {
		return nil, fastWait, i, gen
	}
	if !s.move(i, gen, slotWaitWrite, slotWrite) {
		return s.lost(r), fastDone, 0, 0
	}
	r.slot, r.gen, r.mode, r.wait = int32(i), gen, ModeWrite, ModeNone
	err = grantResult(atomic.LoadUint32(s.state()))
	r.told = err != nil && !silent
	return err, fastDone, 0, 0
}

// overtakeNs is how long a writer may wait before the writers that come
// after it must let it go first. Below it, a writer that is running takes
// the free field before one that sleeps, so a busy lock is passed on while
// its lines are warm in the holder's cache instead of waiting for a
// sleeper to wake; 4 ms, against 1 ms, took the contended benchmark from
// 5.2 to 5.8 million operations a second at 8 processes and 90% reads,
// and by 10-15% at 4 processes and at 50% and 10% reads, with the same
// writer wait p99 in the starvation benchmark (Linux's rwsem hands off to
// a waiter after the same 4 ms; Go's sync.Mutex turns fair after 1 ms).
const overtakeNs = int64(4e6)

// starveNs is how long a reader's grant may be taken back while it is not
// running (revokeYoungGrants).
const starveNs = int64(1e6)

// olderWriter returns a writer that has waited longer than overtakeNs and
// began to wait before slot i, or -1. Such a writer gets the free writer
// field before slot i does, so no writer starves among writers; below that
// age writers may overtake each other, which avoids a convoy (a sleeping
// waiter to wake at every hand-over) while the lock is busy. A writer that
// never waited (since 0) comes after all that did. The clock is read only
// when another writer waits, never on the uncontended path.
func (s *segment) olderWriter(i int) int {
	if s.othersIdle(i) {
		return -1 // the scan would find no other writer
	}
	mine := atomic.LoadInt64(s.since(i))
	older := -1
	var now int64
	s.forEachUsed(func(j int) bool {
		if j == i || s.slotState(j) != slotWaitWrite {
			return true
		}
		sj := atomic.LoadInt64(s.since(j))
		if sj == 0 || !waitedBefore(sj, j, mine, i) {
			return true // only a writer that waited, and before us, can be due
		}
		if now == 0 {
			now = MonotonicNow()
		}
		if now-sj > overtakeNs {
			older = j
			return false
		}
		return true
	})
	return older
}

// writeWait waits in slot i (slotWaitWrite) for write: first for the
// writer field, then for the readers inside to leave.
func (s *segment) writeWait(w *waitCtl, r *ownerRec, i int, gen uint32) error {
	for {
		if err := s.takeWriterField(w, r, i, gen); err != nil {
			return err
		}
		revoked, err := s.drainReaders(w, r, i, gen)
		if err != nil {
			return err
		}
		if !revoked {
			break
		}
		// Our process was stopped while we drained, and another process
		// took the field away (see Hand-off in layout.go): queue again.
	}
	if !s.move(i, gen, slotWaitWrite, slotWrite) {
		return s.lost(r)
	}
	r.slot, r.gen, r.mode, r.wait = int32(i), gen, ModeWrite, ModeNone
	err := grantResult(atomic.LoadUint32(s.state()))
	r.told = err != nil && !w.silent
	return err
}

// queueWrite records that r's write wait stays queued in slot i (a slice
// ended) and returns err.
func (s *segment) queueWrite(r *ownerRec, i int, gen uint32, err error) error {
	r.slot, r.gen, r.wait = int32(i), gen, ModeWrite
	return err
}

// giveUpWrite withdraws r's write wait in slot i, which does not own the
// writer field, and returns err (ErrLost if the slot was recovered).
func (s *segment) giveUpWrite(r *ownerRec, i int, gen uint32, err error) error {
	if !s.cancelWait(i, gen, slotWaitWrite) {
		return s.lost(r)
	}
	r.slot, r.wait = -1, ModeNone
	return err
}

// takeWriterField waits in slot i (slotWaitWrite) until it owns the writer
// field, which blocks new readers at once.
func (s *segment) takeWriterField(w *waitCtl, r *ownerRec, i int, gen uint32) error {
	for {
		st := atomic.LoadUint32(s.state())
		if writerOf(st) == i {
			return nil // resumed while owning it
		}
		// (The waiting bit cannot stand in for the scan: the release that
		// wakes the last waiting writer clears it before that writer runs.)
		// Taking the field keeps the bit as it is: it stands while other
		// writers wait (see Waking writers in layout.go).
		if !hasWriter(st) && s.olderWriter(i) < 0 {
			if !s.owns(i, gen, slotWaitWrite) {
				return s.lost(r)
			}
			if atomic.CompareAndSwapUint32(s.state(), st, withWriter(st, i)) {
				return nil
			}
			continue
		}
		if _, ok := s.writerSlot(st); !ok {
			return s.giveUpWrite(r, i, gen, detail(ErrProtocol, "corrupt lock word %#x", st))
		}
		if w.deadline == 0 {
			return s.giveUpWrite(r, i, gen, ErrBusy)
		}
		if atomic.LoadInt64(s.since(i)) == 0 {
			// First wait, or demoted while stopped: take a place.
			atomic.StoreInt64(s.since(i), MonotonicNow())
		}
		atomic.StoreUint32(s.sleepWord(i), 1)
		atomic.OrUint32(s.state(), stateWritersWaiting)
		seq := atomic.LoadUint32(s.writeSeq())
		// Sleep only while the bit still stands (a clearing that removed it
		// since our Or may have moved writeSeq before we read it, and the
		// writer that took the field after it would then not wake us) and
		// our sleep word too (a waker that took it may have woken us
		// already).
		var err error
		if st2 := atomic.LoadUint32(s.state()); st2&stateWritersWaiting != 0 &&
			(hasWriter(st2) || s.olderWriter(i) >= 0) && atomic.LoadUint32(s.sleepWord(i)) == 1 {
			err = s.sleep(w, s.writeSeq(), seq, writerBit(i), func() { s.checkWriteWait(i) })
		}
		atomic.StoreUint32(s.sleepWord(i), 0)
		if err != nil {
			if err == ErrSliceEnded {
				return s.queueWrite(r, i, gen, err)
			}
			return s.giveUpWrite(r, i, gen, err)
		}
	}
}

// checkWriteWait is the check of a writer waiting in slot i for the
// writer field: it recovers the field's owner if dead (or takes the field
// from it if it is stopped while draining), and the older writer i defers
// to if that one is dead or stopped.
func (s *segment) checkWriteWait(i int) {
	s.checkWriter(atomic.LoadUint32(s.state()))
	if j := s.olderWriter(i); j >= 0 && (s.recoverIfDead(j, liveCache{}) || s.demoteIfStopped(j)) {
		s.wakeWritersIfFree()
	}
}

// drainReaders waits, owning the writer field, for the readers inside to
// leave. revoked reports that the field was taken away meanwhile (our
// process was stopped while it waited): the caller must queue again.
func (s *segment) drainReaders(w *waitCtl, r *ownerRec, i int, gen uint32) (revoked bool, err error) {
	// Slot i (slotWaitWrite) is no reader: when the others are idle, the
	// scan would find none.
	if s.othersIdle(i) || !s.anyReader() {
		// The drain bit was never set, so nobody can revoke the field.
		return false, nil
	}
	if w.deadline == 0 {
		if !s.abortWrite(i, gen) {
			return false, s.lost(r)
		}
		r.slot, r.wait = -1, ModeNone
		return false, ErrBusy
	}
	if atomic.LoadInt64(s.since(i)) == 0 {
		atomic.StoreInt64(s.since(i), MonotonicNow())
	}
	for {
		if !s.setDrainWaiting(i) {
			return true, nil
		}
		seq := atomic.LoadUint32(s.drainSeq())
		if !s.anyReader() || s.revokeYoungGrants() && !s.anyReader() {
			break
		}
		if err := s.sleep(w, s.drainSeq(), seq, futexBitsetAny, s.checkReaders); err != nil {
			if err == ErrSliceEnded {
				return false, s.queueWrite(r, i, gen, err) // keep the field: new readers stay out
			}
			if !s.abortWrite(i, gen) {
				return false, s.lost(r)
			}
			r.slot, r.wait = -1, ModeNone
			return false, err
		}
	}
	if !s.endDrain(i) {
		return true, nil
	}
	atomic.StoreInt64(s.since(i), MonotonicNow())
	return false, nil
}

// setDrainWaiting sets the drain bit for pending writer i, which sleeps on
// drainSeq; only the owner of the writer field sets it. It reports false if
// i no longer owns the field.
func (s *segment) setDrainWaiting(i int) bool {
	for {
		st := atomic.LoadUint32(s.state())
		if writerOf(st) != i {
			return false
		}
		if st&stateDrainWaiting != 0 || atomic.CompareAndSwapUint32(s.state(), st, st|stateDrainWaiting) {
			return true
		}
	}
}

// endDrain clears the drain bit of pending writer i, which found no reader
// inside. The CAS races with revokeFieldIfStopped: exactly one wins. It
// reports false if the field was revoked.
func (s *segment) endDrain(i int) bool {
	for {
		st := atomic.LoadUint32(s.state())
		if writerOf(st) != i {
			return false
		}
		if st&stateDrainWaiting == 0 || atomic.CompareAndSwapUint32(s.state(), st, st&^stateDrainWaiting) {
			return true
		}
	}
}

// abortWrite gives up the writer field and the slot of a writer that never
// drained the readers: nothing was written, so no owner-dead mark. It
// returns false if the slot was recovered meanwhile.
func (s *segment) abortWrite(i int, gen uint32) bool {
	s.clearWriter(i, false, false)
	if !s.move(i, gen, slotWaitWrite, slotFree) {
		return false
	}
	s.free(i)
	return true
}

// cancelPending withdraws the wait a slice left queued for r. If the wait
// was granted meanwhile, the grant is given back: no phantom hold.
func (s *segment) cancelPending(r *ownerRec) error {
	i, gen := int(r.slot), r.gen
	ok := true
	if r.wait == ModeRead {
		held, err := s.withdrawRead(i, gen)
		if held {
			ok = s.move(i, gen, slotRead, slotFree)
			if ok {
				s.kickDrain()
				s.free(i)
			}
		}
		ok = ok && err == nil
	} else if writerOf(atomic.LoadUint32(s.state())) == i {
		ok = s.abortWrite(i, gen)
	} else {
		ok = s.cancelWait(i, gen, slotWaitWrite)
	}
	r.slot, r.mode, r.wait, r.told = -1, ModeNone, ModeNone, false
	if !ok {
		return ErrLost
	}
	return nil
}

func (l *Lock) release(o Owner, keepMark bool) (err error) {
	if r := l.rem(); r != nil {
		return r.release(o, keepMark)
	}
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
	// Nothing is held while a wait is queued, but the wait must not linger:
	// releaseRec withdraws it.
	queued := r.wait != ModeNone
	if keepMark {
		r.told = false
	}
	if err := s.releaseRec(r, false); err != nil || !queued {
		return err
	}
	return ErrNotHeld
}

// Cancel withdraws the wait that AcquireSlice left queued for owner o. If
// the lock was granted to it meanwhile, Cancel gives it back, so the owner
// holds nothing afterwards. Without a queued wait it returns ErrNotHeld.
func (l *Lock) Cancel(o Owner) (err error) {
	if r := l.rem(); r != nil {
		return r.cancel(o)
	}
	s, err := l.enter()
	if err != nil {
		return err
	}
	defer s.exit(&err, debug.SetPanicOnFault(true))
	r := s.recs.load(o)
	if r == nil || r.slot < 0 || r.wait == ModeNone {
		return ErrNotHeld
	}
	return s.cancelPending(r)
}

// Abandon ends owner o as if its process had died: a read hold is
// released, a write hold is released with the lock marked owner-dead (the
// owner never finished), a queued wait is withdrawn, and the owner's
// record is forgotten. It is for owners that end without releasing, such
// as a thread that exits holding the lock. It returns ErrNotHeld if o held
// nothing.
func (l *Lock) Abandon(o Owner) (err error) {
	if r := l.rem(); r != nil {
		return r.abandon(o)
	}
	s, err := l.enter()
	if err != nil {
		return err
	}
	defer s.exit(&err, debug.SetPanicOnFault(true))
	r := s.recs.load(o)
	if r == nil {
		return ErrNotHeld
	}
	if r.slot < 0 {
		err = ErrNotHeld
	} else if e := s.releaseRec(r, r.wait == ModeNone && r.mode == ModeWrite); e != ErrLost {
		err = e
	}
	s.retireIdle(r)
	s.recs.remove(o)
	return err
}

// releaseRec drops r's hold, or its queued wait. force marks a write
// hold's data inconsistent (the owner never released it itself). It
// returns ErrLost if another process had recovered the slot.
func (s *segment) releaseRec(r *ownerRec, force bool) error {
	if r.wait != ModeNone {
		return s.cancelPending(r)
	}
	i, gen := int(r.slot), r.gen
	if r.mode == ModeRead {
		// count holds the recursion levels beyond the first.
		if !force && atomic.LoadUint32(s.count(i)) > 0 {
			if !s.owns(int(r.slot), r.gen, slotRead) {
				return s.lost(r)
			}
			atomic.AddUint32(s.count(i), ^uint32(0))
			return nil
		}
		if !s.keep(r, i, gen, slotRead) {
			return s.lost(r)
		}
		s.kickDrain()
	} else {
		if !force && !r.told && s.releaseAlone(r) {
			r.slot, r.mode, r.told = -1, ModeNone, false
			return nil
		}
		// The readers queued behind us get the lock before the field opens
		// to the next writer; then the field is cleared, and only then does
		// the slot leave slotWrite: an idle slot can be evicted and claimed
		// by another owner, which must never find its own index in the
		// field, and a slotWrite slot that no longer owns the field is done
		// writing (see Lone writers in layout.go).
		if !s.owns(i, gen, slotWrite) {
			return s.lost(r)
		}
		if !s.othersIdle(i) { // else the scan would find nothing to do
			s.handOffReaders()
		}
		if s.clearWriter(i, force, r.told && !force) && force {
			atomic.AddUint64(s.u64(offOwnerDeaths), 1)
		}
		s.keep(r, i, gen, slotWrite) // fails only if recovered meanwhile: the hold ended anyway
	}
	// The slot stays ours, idle, for the owner's next hold (see Kept slots
	// in layout.go).
	r.slot, r.mode, r.told = -1, ModeNone, false
	return nil
}

func (l *Lock) downgrade(o Owner) (err error) {
	if r := l.rem(); r != nil {
		return r.downgrade(o)
	}
	s, err := l.enter()
	if err != nil {
		return err
	}
	defer s.exit(&err, debug.SetPanicOnFault(true))
	if o == 0 {
		return ErrInvalid
	}
	return s.downgradeRec(s.rec(o))
}

// downgradeRec is Downgrade for r's owner.
func (l *Lock) downgradeRec(r *ownerRec) (err error) {
	s, err := l.enter()
	if err != nil {
		return err
	}
	defer s.exit(&err, debug.SetPanicOnFault(true))
	return s.downgradeRec(r)
}

func (s *segment) downgradeRec(r *ownerRec) error {
	if r.slot < 0 || r.mode != ModeWrite {
		return ErrNotHeld
	}
	i := int(r.slot)
	// Still owning the writer field, become a reader, admit the waiting
	// readers, then open the field: no writer can get in between.
	if !s.move(i, r.gen, slotWrite, slotRead) {
		return s.lost(r)
	}
	if !s.othersIdle(i) { // else the scan would find nothing to do
		s.handOffReaders()
	}
	s.clearWriter(i, false, r.told)
	r.mode, r.told = ModeRead, false
	return nil
}

func (l *Lock) held(o Owner) (m Mode) {
	if r := l.rem(); r != nil {
		return r.held(o)
	}
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
	if r := l.rem(); r != nil {
		return r.ownerDied()
	}
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
	if r := l.rem(); r != nil {
		return 0, nil // the server recovers: leases expire
	}
	s, err := l.enter()
	if err != nil {
		return 0, err
	}
	defer s.exit(&err, debug.SetPanicOnFault(true))
	return s.sweep(), nil
}

// Stats returns a snapshot of the lock's state.
func (l *Lock) Stats() (out Stats, err error) {
	if r := l.rem(); r != nil {
		return r.stats()
	}
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
	touched := s.touchedPages() // untouched pages hold no owner; reading them would allocate them
	for i := 0; i < s.capacity; i++ {
		if touched.has(s.slot(i, slotOwner)) && atomic.LoadUint64(s.owner(i)) != 0 && s.slotState(i) != slotIdle {
			out.UsedSlots++ // kept (idle) slots are room: a full table evicts them
		}
	}
	s.forEachUsed(func(i int) bool {
		switch s.slotState(i) {
		case slotRead, slotGranted:
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
		out.WriterPID, out.WriterTID = keyPID(own), uint32(atomic.LoadUint64(s.holder(w)))
		out.WriterActive = s.slotState(w) == slotWrite
	}
	out.Attached = s.attachedCount()
	return out, nil
}

// Holders lists the slots that hold or wait for the lock.
func (l *Lock) Holders() (out []Holder, err error) {
	if r := l.rem(); r != nil {
		return r.holders()
	}
	s, err := l.enter()
	if err != nil {
		return nil, err
	}
	defer s.exit(&err, debug.SetPanicOnFault(true))
	now := MonotonicNow()
	s.forEachUsed(func(i int) bool {
		own := atomic.LoadUint64(s.owner(i))
		ho := atomic.LoadUint64(s.holder(i))
		h := Holder{PID: keyPID(own), TID: uint32(ho), Owner: ho}
		switch s.slotState(i) {
		case slotRead, slotGranted:
			h.Mode, h.Count = ModeRead, atomic.LoadUint32(s.count(i))+1
		case slotWrite:
			// Holding only while it owns the field: otherwise it is a lone
			// writer between its steps (see Lone writers in layout.go).
			if writerOf(atomic.LoadUint32(s.state())) != i {
				return true
			}
			h.Mode = ModeWrite
		case slotWaitRead:
			h.Mode, h.Waiting = ModeRead, true
		case slotWaitWrite:
			h.Mode, h.Waiting = ModeWrite, true
		default:
			return true
		}
		if own == 0 || isMarker(own) {
			return true
		}
		// The fast path reads no clock: stamp holds on first sight. Never
		// a wait: a waiting writer's since is its place in the queue
		// (0 for one that lost its place while stopped).
		if !h.Waiting {
			atomic.CompareAndSwapInt64(s.since(i), 0, now)
		}
		h.Since = atomic.LoadInt64(s.since(i))
		out = append(out, h)
		return true
	})
	return out, nil
}
