package lock

import "sync/atomic"

// A lock at capacity must say so at once (ErrFull), yet a table full of
// dead processes' entries must still make room. Judging an owner dead reads
// /proc, so checking every entry of a table full of live processes would
// make the failure cost grow with the number of processes. These sweeps
// therefore judge owners only for fullSweepBudget, resuming where the
// previous one stopped, so repeated attempts cover the whole table; owners
// already judged in the same sweep cost nothing more (liveCache), so all of
// one dead process's entries go at once.

// fullSweepBudget bounds the liveness checks of one sweep of a full table.
const fullSweepBudget = int64(400e3)

// sweepForRoom recovers dead owners' slots for a claim that found every
// slot taken, and returns how many it recovered.
func (s *segment) sweepForRoom() int {
	if n := s.evictIdle(); n > 0 {
		return n // no /proc reads needed
	}
	n := 0
	s.sweepBounded(&s.roomNext, func(i int, cache liveCache) {
		if atomic.LoadUint64(s.owner(i)) != 0 && s.recoverIfDead(i, cache) {
			n++
		}
	})
	return n
}

// dropDeadAttachments frees the attachment entries of dead processes for
// an attach that found every entry taken.
func (s *segment) dropDeadAttachments() {
	s.sweepBounded(&s.attNext, func(i int, cache liveCache) { s.dropDeadAttachment(i, cache) })
}

// sweepBounded calls f for the entries from *next on, wrapping around,
// until it has visited them all or spent fullSweepBudget; *next is where
// the next sweep starts. The first entry is always visited.
func (s *segment) sweepBounded(next *atomic.Int32, f func(i int, cache liveCache)) {
	n := s.capacity
	start := int(next.Load())
	if start < 0 || start >= n {
		start = 0
	}
	cache := liveCache{}
	deadline := MonotonicNow() + fullSweepBudget
	for k := 0; k < n; k++ {
		i := start + k
		if i >= n {
			i -= n
		}
		if k > 0 && MonotonicNow() > deadline {
			next.Store(int32(i))
			return
		}
		f(i, cache)
	}
	next.Store(int32(start))
}

// touchedPages tells which pages of a segment's file exist. tmpfs
// allocates a page of a file when it is first touched, and a page it never
// allocated holds only zeros, so a scan for entries in use may skip it; it
// must, in fact, because reading the page through the mapping would
// allocate it, and a scan of the whole table would make every lock cost its
// full size. The kernel reports a page that was swapped out as absent too,
// so only scans that may miss an entry use it: statistics, and recovery
// that waiters also do.
type touchedPages struct {
	vec  []byte // mincore's vector, nil: unknown
	size int    // page size
}

// has reports whether the page holding byte off of the mapping may hold
// something other than zeros.
func (t touchedPages) has(off int) bool { return t.vec == nil || t.vec[off/t.size]&1 != 0 }

// anyAttached reports whether a live process other than this one (whose
// entry is already gone) has the segment open, dropping the dead entries
// it meets. It stops at the first live one: the last user of an anonymous
// lock asks this on every close, and the answer needs no full count.
func (s *segment) anyAttached() bool {
	cache := liveCache{}
	for i := 0; i < s.capacity; i++ {
		s.dropDeadAttachment(i, cache)
		if atomic.LoadUint32(s.attPIDp(i)) != 0 {
			return true
		}
	}
	return false
}
