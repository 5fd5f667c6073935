package lock

import (
	"math/bits"
	"runtime/debug"
	"sync/atomic"
	"unsafe"
)

// segment is one process's mapping of a lock file. All handles of a process
// that open the same file share one segment (see registry), so the process
// has one view of its owners' holds.
type segment struct {
	mem      []byte // the MAP_SHARED mapping; never copied out of
	capacity int    // validated at open; never re-read from shared memory
	slotOff  int
	attOff   int
	path     string
	dev, ino uint64
	anon     bool
	me       ident
	key      uint64 // processKey(me): what our claims store in owner words
	attSlot  int    // our attachment entry, -1 if untracked

	refs int // handles open on this segment; guarded by registryMu

	// active counts operations in flight; closing adds closingBias, after
	// which enter fails and detach waits for the count to drain.
	active atomic.Int64

	recs recTable // Owner -> *ownerRec

	// The last synthetic owner made up for a handle's sync.RWMutex-style
	// methods (rwmutex.go): the handles of a segment share its records.
	nextSyn atomic.Uint32

	// Where the next bounded sweep of a full table starts (see full.go).
	roomNext, attNext atomic.Int32
}

const closingBias = -1 << 40

// ownerRec is the process-local view of one owner's slot. Only the owner's
// own thread touches it while it is not closing.
type ownerRec struct {
	slot int32  // -1: no slot
	gen  uint32 // generation of the slot when claimed
	// The slot kept between holds (slotIdle), -1: none; see Kept slots in
	// layout.go. Another process may evict it at any time.
	idle    int32
	idleGen uint32
	mode    Mode // ModeRead or ModeWrite while held; ModeNone while waiting
	wait    Mode // the mode of a wait AcquireSlice left queued, or ModeNone
	told    bool // this owner's write hold was granted with ErrOwnerDead
}

func (s *segment) enter() bool {
	if s.active.Add(1) < 0 {
		s.active.Add(-1)
		return false
	}
	return true
}

// exit ends an operation begun with enter. Operations run with
// debug.SetPanicOnFault on (oldFault is the previous setting), so that a
// fault on the mapping, which happens if another process truncates the
// file, becomes ErrProtocol in *errp instead of crashing the process.
func (s *segment) exit(errp *error, oldFault bool) {
	debug.SetPanicOnFault(oldFault)
	s.active.Add(-1)
	if r := recover(); r != nil {
		mustBeFault(r)
		*errp = detail(ErrProtocol, "%s: shared memory fault (was the file truncated?): %v", s.path, r)
	}
}

// mustBeFault panics again with r, a value recovered in an operation,
// unless it is a fault on the mapping.
func mustBeFault(r any) {
	if _, ok := r.(interface{ Addr() uintptr }); !ok {
		panic(r)
	}
}
func (s *segment) closing() bool { return s.active.Load() < 0 }

// Raw accessors. Offsets are computed from the validated capacity only:
// every slot index comes from our own claims, from the bitmap (below
// capacity/64 words), or from the lock word after writerSlot checked it, so
// the accessors skip the slice's bounds check (they sit on every path, the
// uncontended pairs' included).
func (s *segment) u32(off int) *uint32 { return (*uint32)(s.at(off)) }
func (s *segment) u64(off int) *uint64 { return (*uint64)(s.at(off)) }
func (s *segment) i64(off int) *int64  { return (*int64)(s.at(off)) }
func (s *segment) at(off int) unsafe.Pointer {
	return unsafe.Add(unsafe.Pointer(unsafe.SliceData(s.mem)), off)
}

func (s *segment) state() *uint32    { return (*uint32)(s.at(offState)) } // (not via u32: kickDrain must stay inlinable)
func (s *segment) readSeq() *uint32  { return s.u32(offReadSeq) }
func (s *segment) writeSeq() *uint32 { return s.u32(offWriteSeq) }
func (s *segment) drainSeq() *uint32 { return s.u32(offDrainSeq) }

func (s *segment) slot(i int, field int) int { return s.slotOff + i*slotSize + field }
func (s *segment) owner(i int) *uint64       { return s.u64(s.slot(i, slotOwner)) }
func (s *segment) ctl(i int) *uint64         { return s.u64(s.slot(i, slotCtl)) }
func (s *segment) count(i int) *uint32       { return s.u32(s.slot(i, slotCount)) }
func (s *segment) pstart(i int) *uint64      { return s.u64(s.slot(i, slotPstart)) }
func (s *segment) pidns(i int) *uint64       { return s.u64(s.slot(i, slotPidns)) }
func (s *segment) since(i int) *int64        { return s.i64(s.slot(i, slotSince)) }
func (s *segment) holder(i int) *uint64      { return s.u64(s.slot(i, slotHolder)) }
func (s *segment) sleepWord(i int) *uint32   { return s.u32(s.slot(i, slotSleep)) }
func (s *segment) sflags(i int) *uint32      { return s.u32(s.slot(i, slotFlags)) }
func (s *segment) bitmapWord(w int) *uint64  { return s.u64(offBitmap + 8*w) }

func (s *segment) att(i int, field int) int { return s.attOff + i*attachSize + field }

// writerSlot returns the writer index of lock word st, or -1. A value out
// of range can only come from a corrupt or hostile segment: ok is false.
func (s *segment) writerSlot(st uint32) (idx int, ok bool) {
	idx = writerOf(st)
	return idx, idx < s.capacity
}

// forEachUsed calls f for every slot whose bitmap bit is set. Every write
// pair runs it several times and most of a large table is empty, so empty
// words must cost next to nothing: the loop runs over a slice view of the
// bitmap (one bounds check, not one per word) and skips four empty words
// with one test. Each word is still read with an atomic load.
func (s *segment) forEachUsed(f func(i int) bool) {
	words := unsafe.Slice((*uint64)(unsafe.Pointer(&s.mem[offBitmap])), s.capacity/64)
	n := len(words)
	if u := int(atomic.LoadUint32(s.u32(offUsedWords))); u < n {
		n = u // no bit beyond (see Claim order in layout.go)
	}
	for w := 0; w < n; w++ {
		if w&3 == 0 && w+4 <= n {
			g := words[w : w+4 : w+4]
			if atomic.LoadUint64(&g[0])|atomic.LoadUint64(&g[1])|atomic.LoadUint64(&g[2])|atomic.LoadUint64(&g[3]) == 0 {
				w += 3
				continue
			}
		}
		m := atomic.LoadUint64(&words[w])
		for m != 0 {
			b := bits.TrailingZeros64(m)
			m &^= 1 << b
			if !f(w*64 + b) {
				return
			}
		}
	}
}

// markUsed sets slot i's bitmap bit, after raising usedWords so that
// scans read its word (see Claim order in layout.go).
func (s *segment) markUsed(i int) {
	w := uint32(i/64) + 1
	for {
		u := atomic.LoadUint32(s.u32(offUsedWords))
		if u >= w || atomic.CompareAndSwapUint32(s.u32(offUsedWords), u, w) {
			break
		}
	}
	atomic.OrUint64(s.bitmapWord(i/64), 1<<(i%64))
}

// othersIdle reports whether every slot whose bitmap bit is set, other
// than slot i (ours), is idle, and at most keptScanMax of them. The
// writer's scans act only on slots in other states (olderWriter on
// slotWaitWrite, anyReader on slotRead and slotGranted, handOffReaders on
// slotWaitRead, and on idle slots past keptScanMax), so a scan that reads
// the same words and ctls would do nothing, and a caller that knows what
// it would do with slot i may skip it: the uncontended write pair skips its
// three scans this way, at a load per slot in use instead of a callback.
// Claimers set their bit after their ctl store, so a claim in progress may
// be missing here, exactly as it is from a scan (see Claim order in
// layout.go); like a scan, it reads only the words below usedWords.
func (s *segment) othersIdle(i int) bool {
	u := uint(atomic.LoadUint32(s.u32(offUsedWords)))
	if u == 1 && uint(i) < 64 && atomic.LoadUint64(s.bitmapWord(0)) == 1<<uint(i) {
		return true // the usual case: one word in use, our bit alone (no capacity is below 64)
	}
	n := uint(s.capacity) / 64
	if u < n {
		n = u
	}
	bm, ui, idle := unsafe.Pointer(s.bitmapWord(0)), uint(i), 0
	for w := uint(0); w < n; w++ {
		m := atomic.LoadUint64((*uint64)(unsafe.Add(bm, w*8))) // w < capacity/64: inside the bitmap
		if w == ui/64 {
			m &^= 1 << (ui % 64)
		}
		for ; m != 0; m &= m - 1 {
			j := int(w)*64 + bits.TrailingZeros64(m)
			if s.slotState(j) != slotIdle {
				return false
			}
			if idle++; idle > keptScanMax {
				return false
			}
		}
	}
	return true
}

// claimSpreadBits: claims start within the first 1<<claimSpreadBits slots
// (one page of the table), so that what a lock costs in memory follows the
// number of owners holding or waiting at once, not how many ever did: tmpfs
// allocates a page of the file when it is first touched. No capacity is
// smaller.
const claimSpreadBits = 6

// claimStart is where owner o's search for a free slot begins: where it
// hashes among the first 1<<claimSpreadBits slots, so that concurrent
// claims rarely collide, the same owner tends to reuse its slot, and a
// lock's holders stay in the first pages of its table.
func claimStart(o Owner) int { return int(uint32(o) * 2654435761 >> (32 - claimSpreadBits)) }

// claim takes a free slot for owner o in slot state st and returns its
// index and generation. The state is stored before the bitmap bit is set:
// a writer that finds the bit then sees the state, and one that misses it
// changed the lock word before our caller loads it (see layout.go).
func (s *segment) claim(o Owner, st uint32) (int, uint32, error) {
	key := s.key
	n := s.capacity
	start := claimStart(o)
	for pass := 0; pass < 2; pass++ {
		for k := 0; k < n; k++ {
			i := start + k
			if i >= n {
				i -= n
			}
			if atomic.LoadUint64(s.owner(i)) != 0 {
				continue
			}
			if !atomic.CompareAndSwapUint64(s.owner(i), 0, key) {
				continue
			}
			// Fields left by an earlier claim are usually ours already;
			// a load is cheaper than a locked store.
			setIfDiff64(s.pstart(i), s.me.pstart)
			setIfDiff64(s.pidns(i), s.me.pidns)
			if atomic.LoadInt64(s.since(i)) != 0 {
				atomic.StoreInt64(s.since(i), 0)
			}
			if atomic.LoadUint32(s.count(i)) != 0 {
				atomic.StoreUint32(s.count(i), 0)
			}
			if atomic.LoadUint32(s.sflags(i)) != 0 {
				atomic.StoreUint32(s.sflags(i), 0) // Go owners are not thread ids
			}
			setIfDiff64(s.holder(i), uint64(o))
			gen := ctlGen(atomic.LoadUint64(s.ctl(i))) + 1
			atomic.StoreUint64(s.ctl(i), makeCtl(gen, st))
			s.markUsed(i)
			return i, gen, nil
		}
		if pass == 0 && s.sweepForRoom() == 0 {
			break
		}
	}
	return -1, 0, s.fullError("holder slots (one per thread holding or waiting)")
}

// claimFor takes a slot for owner o's record r in slot state st: the slot
// r kept from its last hold if it still has it, else a free one.
func (s *segment) claimFor(r *ownerRec, o Owner, st uint32) (int, uint32, error) {
	if i := int(r.idle); i >= 0 {
		gen := r.idleGen
		r.idle = -1
		if s.move(i, gen, slotIdle, st) {
			// A hold's since may have been stamped by an inspector after
			// the last release; a writer's is its place in the queue.
			if atomic.LoadInt64(s.since(i)) != 0 {
				atomic.StoreInt64(s.since(i), 0)
			}
			return i, gen, nil
		}
		// Evicted (a full table, or our handle closing) or recovered:
		// the slot is no longer ours to touch.
	}
	return s.claim(o, st)
}

// keep ends r's hold in slot i (generation gen, state from) by moving the
// slot to slotIdle, kept for r's next hold. It reports false if the slot
// was recovered meanwhile.
func (s *segment) keep(r *ownerRec, i int, gen, from uint32) bool {
	if !s.move(i, gen, from, slotIdle) {
		return false
	}
	r.idle, r.idleGen = int32(i), gen
	return true
}

// retireIdle frees the slot r keeps, unless it was evicted meanwhile.
func (s *segment) retireIdle(r *ownerRec) {
	if i := int(r.idle); i >= 0 {
		r.idle = -1
		s.evict(i, makeCtl(r.idleGen, slotIdle))
	}
}

// evict frees idle slot i, whose ctl was c, whoever keeps it (see Kept
// slots in layout.go). It reports whether it freed the slot.
func (s *segment) evict(i int, c uint64) bool {
	if !atomic.CompareAndSwapUint64(s.ctl(i), c, makeCtl(ctlGen(c), slotFree)) {
		return false
	}
	// The slot is out of its keeper's reach; free it as a recoverer does.
	// Only a recoverer of a dead keeper can have replaced the owner word
	// meanwhile, and it then finishes the free itself.
	own := atomic.LoadUint64(s.owner(i))
	if own == 0 || isMarker(own) || !atomic.CompareAndSwapUint64(s.owner(i), own, s.key|tagMarker) {
		return false
	}
	atomic.AndUint64(s.bitmapWord(i/64), ^uint64(1<<(i%64)))
	atomic.StoreUint64(s.owner(i), 0)
	return true
}

// evictIdle frees every idle slot of the table, for a claim that found it
// full: kept slots are a cache, never a reason to refuse a holder. It
// returns how many it freed.
func (s *segment) evictIdle() int {
	n := 0
	s.forEachUsed(func(i int) bool {
		if c := atomic.LoadUint64(s.ctl(i)); ctlState(c) == slotIdle && s.evict(i, c) {
			n++
		}
		return true
	})
	return n
}

func setIfDiff64(p *uint64, v uint64) {
	if atomic.LoadUint64(p) != v {
		atomic.StoreUint64(p, v)
	}
}

// free returns slot i to the pool. The caller owns the slot and has set its
// state to slotFree (or never left it). The owner word is cleared by CAS: a
// recoverer that replaced it by its marker finishes the free itself.
func (s *segment) free(i int) {
	atomic.AndUint64(s.bitmapWord(i/64), ^uint64(1<<(i%64)))
	atomic.CompareAndSwapUint64(s.owner(i), s.key, 0)
}

// move changes the state of our own slot i from `from` to `to`. It fails
// only when another process recovered the slot (it judged us dead): the
// hold is lost, and nothing may be written to the slot any more.
func (s *segment) move(i int, gen, from, to uint32) bool {
	return atomic.CompareAndSwapUint64(s.ctl(i), makeCtl(gen, from), makeCtl(gen, to))
}

func (s *segment) slotState(i int) uint32 { return ctlState(atomic.LoadUint64(s.ctl(i))) }

// isReader reports whether slot state st counts as a reader inside: a
// pending writer waits for both until they leave or the grant is revoked.
func isReader(st uint32) bool { return st == slotRead || st == slotGranted }

// kickDrain wakes a pending writer that waits for readers to leave, once
// the last of them has left: woken while others are still inside, it would
// only look and sleep again. Called after a reader's slot stopped being a
// reader; every other leaving reader stopped too before its own look, so
// the last of the looks (in the order of the atomics) finds nobody and
// wakes.
//
// The look at the drain bit inlines into every read release; the scan and
// the wake are out of line (wakeDrain).
func (s *segment) kickDrain() {
	if atomic.LoadUint32(s.state())&stateDrainWaiting != 0 {
		s.wakeDrain()
	}
}

func (s *segment) wakeDrain() {
	if !s.anyReader() {
		atomic.AddUint32(s.drainSeq(), 1)
		futexWakeN(s.drainSeq(), 1)
	}
}

// wakeFor wakes the sleepers whose waiting bits were set in old, a lock
// word value just replaced: every reader, and of the writers the one that
// is due, first (see nextWriter), or all of them if none waits (-1).
//
// The look at the bits inlines into every release; wakeWaiters wakes.
func (s *segment) wakeFor(old uint32, first int) {
	if old&(stateReadersWaiting|stateWritersWaiting) != 0 {
		s.wakeWaiters(old, first)
	}
}

func (s *segment) wakeWaiters(old uint32, first int) {
	if old&stateReadersWaiting != 0 {
		atomic.AddUint32(s.readSeq(), 1)
		futexWakeN(s.readSeq(), 1<<30)
	}
	switch {
	case old&stateWritersWaiting == 0:
	case first < 0:
		atomic.AddUint32(s.writeSeq(), 1)
		futexWakeN(s.writeSeq(), 1<<30)
	case atomic.CompareAndSwapUint32(s.sleepWord(first), 1, 0):
		// Take its sleep word first, then move writeSeq: it read writeSeq
		// before it looked at the word (Waking writers in layout.go).
		atomic.AddUint32(s.writeSeq(), 1)
		futexWakeBits(s.writeSeq(), writerBit(first))
	}
	// (A sleep word of 0: that writer is running, and needs no call.)
}

// nextWriter returns the slotWaitWrite slot other than skip that is due to
// take the writer field next: the one that began to wait first
// (olderWriter's order: the oldest non-zero since, ties to the lower index,
// a writer that never waited last), or -1; and whether another such slot
// waits besides it (see Waking writers in layout.go).
func (s *segment) nextWriter(skip int) (first int, others bool) {
	first = -1
	n, firstSince := 0, int64(0)
	s.forEachUsed(func(i int) bool {
		if i == skip || s.slotState(i) != slotWaitWrite {
			return true
		}
		if si := atomic.LoadInt64(s.since(i)); first < 0 || waitedBefore(si, i, firstSince, first) {
			first, firstSince = i, si
		}
		n++
		return true
	})
	return first, n > 1
}

// clearedWord is the lock word that replaces old when the writer field is
// cleared by or for slot idx: the field and the waiting bits cleared, but
// stateWritersWaiting kept while a writer other than the one to wake
// (first) waits.
func (s *segment) clearedWord(old uint32, idx int) (nw uint32, first int) {
	nw = old &^ (stateWriterMask | stateReadersWaiting | stateWritersWaiting | stateDrainWaiting)
	first = -1
	if old&stateWritersWaiting != 0 {
		var others bool
		if first, others = s.nextWriter(idx); others {
			nw |= stateWritersWaiting
		}
	}
	return nw, first
}

// anyReader reports whether some slot holds read or was granted it.
func (s *segment) anyReader() bool {
	found := false
	s.forEachUsed(func(i int) bool {
		found = isReader(s.slotState(i))
		return !found
	})
	return found
}

// handOffReaders grants read to every waiting reader; each accepts its
// grant when it runs (see Hand-off in layout.go). Only the owner of the
// writer field calls it, so no writer can be active meanwhile.
func (s *segment) handOffReaders() {
	idle := 0
	s.forEachUsed(func(i int) bool {
		c := atomic.LoadUint64(s.ctl(i))
		switch ctlState(c) {
		case slotWaitRead:
			atomic.CompareAndSwapUint64(s.ctl(i), c, makeCtl(ctlGen(c), slotGranted))
		case slotIdle:
			if idle++; idle > keptScanMax {
				s.evict(i, c) // every writer scans kept slots: keep them few
			}
		}
		return true
	})
}

// clearWriter gives up the writer field held by slot idx: it clears the
// field and the waiting bits, optionally sets or clears the owner-dead
// flag, and wakes the sleepers. It returns false if idx did not own it.
func (s *segment) clearWriter(idx int, setDead, clearDead bool) bool {
	for {
		old := atomic.LoadUint32(s.state())
		if writerOf(old) != idx {
			return false
		}
		nw, first := s.clearedWord(old, idx)
		if setDead {
			nw |= stateOwnerDead
		}
		if clearDead {
			nw &^= stateOwnerDead
		}
		if atomic.CompareAndSwapUint32(s.state(), old, nw) {
			s.wakeFor(old, first)
			return true
		}
	}
}

// liveCache memoises liveness checks within one sweep.
type liveCache map[ident]bool

func (s *segment) isAlive(c liveCache, id ident) bool {
	if v, ok := c[id]; ok {
		return v
	}
	v := alive(id, s.me, s.dev, s.ino)
	c[id] = v
	return v
}

// keyIsAlive judges a process key, for a marker or a slot whose claim is
// not published: its pstart and pidns fields may be an earlier claim's.
func (s *segment) keyIsAlive(c liveCache, k uint64) bool {
	id := ident{pid: keyPID(k), key: k &^ tagMarker}
	if v, ok := c[id]; ok {
		return v
	}
	v := keyAlive(k, s.me, s.dev, s.ino)
	c[id] = v
	return v
}

// recoverIfDead cleans up slot i if its owner is dead. It reports whether
// it recovered the slot.
func (s *segment) recoverIfDead(i int, cache liveCache) bool {
	own := atomic.LoadUint64(s.owner(i))
	if own == 0 || own == s.key || own == s.key|tagMarker {
		return false // free, or ours: our own owners end through Abandon
	}
	claimed := atomic.LoadUint64(s.bitmapWord(i/64))&(1<<(i%64)) != 0
	if isMarker(own) || !claimed {
		// Another process is recovering it (take over only if it died), or
		// a claim or free is in progress. Such a slot blocks nobody (scans
		// go through the bitmap), but it takes room.
		if s.keyIsAlive(cache, own) {
			return false
		}
	} else if s.isAlive(cache, ident{pid: keyPID(own), pstart: atomic.LoadUint64(s.pstart(i)), pidns: atomic.LoadUint64(s.pidns(i))}) {
		return false
	}
	// The key holds the owner's start time: a later process with the same
	// pid has another key, so this CAS cannot hit a new claim.
	if !atomic.CompareAndSwapUint64(s.owner(i), own, s.key|tagMarker) {
		return false
	}
	// The slot is ours now. Give up the writer field if it owned it: a
	// writer that had drained (slotWrite) may have left the data half
	// written, so mark the lock owner-dead.
	c := atomic.LoadUint64(s.ctl(i))
	if s.clearWriter(i, ctlState(c) == slotWrite, false) && ctlState(c) == slotWrite {
		atomic.AddUint64(s.u64(offOwnerDeaths), 1)
	}
	// A releasing writer may still grant the slot read; the CAS loop
	// settles on the final state. Nobody can claim the slot meanwhile, so
	// the generation stays.
	for !atomic.CompareAndSwapUint64(s.ctl(i), c, makeCtl(ctlGen(c), slotFree)) {
		c = atomic.LoadUint64(s.ctl(i))
	}
	if isReader(ctlState(c)) {
		s.kickDrain()
	}
	atomic.AndUint64(s.bitmapWord(i/64), ^uint64(1<<(i%64)))
	atomic.StoreUint64(s.owner(i), 0)
	if ctlState(c) != slotIdle {
		atomic.AddUint64(s.u64(offRecoveries), 1) // not merely kept
	}
	if ctlState(c) == slotWaitWrite {
		s.wakeWritersIfFree() // others may have deferred to it as the oldest
	}
	return true
}

// revokeIfStopped takes back the grant of slot i (slotGranted, generation
// gen) if its process is stopped, so that a process that was only waiting
// does not hold the lock up while it cannot run. The CAS races with the
// reader's own acceptance; exactly one wins.
func (s *segment) revokeIfStopped(i int, c uint64) {
	own := atomic.LoadUint64(s.owner(i))
	if own == 0 || isMarker(own) || own == s.key || !sameNamespace(own, s.me.pidns) {
		return
	}
	if stopped(keyPID(own), atomic.LoadUint64(s.holder(i))) {
		// No bit: the reader is not asleep (Hand-off in layout.go).
		atomic.CompareAndSwapUint64(s.ctl(i), c, makeCtl(ctlGen(c), slotWaitRead))
	}
}

// revokeYoungGrants takes back, before a pending writer sleeps until the
// readers inside leave, every grant that its reader has not accepted yet
// (it is not running) and whose wait began less than starveNs ago: such a
// reader takes its turn at a later hand-off, once it runs, while a reader
// that has waited longer keeps its grant (see Hand-off in layout.go). Each
// CAS races with the reader's own acceptance; exactly one wins. It reports
// whether it took any back.
func (s *segment) revokeYoungGrants() bool {
	now, n := int64(0), 0
	s.forEachUsed(func(i int) bool {
		c := atomic.LoadUint64(s.ctl(i))
		if ctlState(c) != slotGranted {
			return true
		}
		since := atomic.LoadInt64(s.since(i))
		if now == 0 {
			now = MonotonicNow()
		}
		if since != 0 && now-since < starveNs &&
			atomic.CompareAndSwapUint64(s.ctl(i), c, makeCtl(ctlGen(c), slotWaitRead)) {
			n++
		}
		return true
	})
	return n > 0 // no bit: the readers are not asleep (Hand-off in layout.go)
}

// demoteIfStopped makes waiting writer j, which others defer to as the
// oldest, lose its place if its process is stopped: its since becomes 0
// ("never waited"), and it stamps a new one when it runs again.
func (s *segment) demoteIfStopped(j int) bool {
	own := atomic.LoadUint64(s.owner(j))
	if own == 0 || isMarker(own) || own == s.key || !sameNamespace(own, s.me.pidns) {
		return false
	}
	sj := atomic.LoadInt64(s.since(j))
	return sj != 0 && stopped(keyPID(own), atomic.LoadUint64(s.holder(j))) &&
		atomic.CompareAndSwapInt64(s.since(j), sj, 0)
}

// sweep recovers every slot whose owner is dead and returns how many. It
// skips pages of the table that were never touched (see touchedPages).
func (s *segment) sweep() int {
	cache := liveCache{}
	touched := s.touchedPages()
	n := 0
	for i := 0; i < s.capacity; i++ {
		if touched.has(s.slot(i, slotOwner)) && atomic.LoadUint64(s.owner(i)) != 0 && s.recoverIfDead(i, cache) {
			n++
		}
	}
	return n
}

// checkWriter recovers the writer named by lock word st if it is dead, and
// takes the field away from it if it only waits for readers to leave while
// its process is stopped.
func (s *segment) checkWriter(st uint32) {
	if idx, ok := s.writerSlot(st); ok && idx >= 0 && !s.recoverIfDead(idx, liveCache{}) {
		s.revokeFieldIfStopped(idx)
	}
}

// revokeFieldIfStopped clears the writer field of pending writer j, which
// sleeps until readers leave (the drain bit is set), if its process is
// stopped. The CAS needs the drain bit, which the pending writer clears by
// CAS before it takes the lock (endDrain): exactly one of the two wins. The
// writer loses its place and queues again when it runs.
func (s *segment) revokeFieldIfStopped(j int) {
	st := atomic.LoadUint32(s.state())
	own := atomic.LoadUint64(s.owner(j))
	if writerOf(st) != j || st&stateDrainWaiting == 0 || s.slotState(j) != slotWaitWrite ||
		own == 0 || isMarker(own) || own == s.key || !sameNamespace(own, s.me.pidns) ||
		!stopped(keyPID(own), atomic.LoadUint64(s.holder(j))) {
		return
	}
	atomic.StoreInt64(s.since(j), 0)
	nw, first := s.clearedWord(st, j)
	if atomic.CompareAndSwapUint32(s.state(), st, nw) {
		s.wakeFor(st, first)
	}
}

// checkReaders recovers dead read holders and revokes the grants of
// stopped processes. It stops at the first reader that stays: the pending
// writer waits for that one anyway, and judging every reader on every poll
// would cost a /proc read per reading process. Readers behind it are judged
// on a later poll, once it has left.
func (s *segment) checkReaders() {
	cache := liveCache{}
	s.forEachUsed(func(i int) bool {
		c := atomic.LoadUint64(s.ctl(i))
		if !isReader(ctlState(c)) || s.recoverIfDead(i, cache) {
			return true
		}
		if ctlState(c) == slotGranted {
			s.revokeIfStopped(i, c)
			return !isReader(s.slotState(i))
		}
		return false
	})
}
