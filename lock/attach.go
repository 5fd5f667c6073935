package lock

import "sync/atomic"

// Attachments record which processes have a segment open. They decide when
// the last user of an anonymous lock is gone.

func (s *segment) attPIDp(i int) *uint32    { return s.u32(s.att(i, attPID)) }
func (s *segment) attRefsp(i int) *uint32   { return s.u32(s.att(i, attRefs)) }
func (s *segment) attPstartp(i int) *uint64 { return s.u64(s.att(i, attPstart)) }
func (s *segment) attPidnsp(i int) *uint64  { return s.u64(s.att(i, attPidns)) }

func (s *segment) attIdent(i int) ident {
	return ident{pid: atomic.LoadUint32(s.attPIDp(i)), pstart: atomic.LoadUint64(s.attPstartp(i)), pidns: atomic.LoadUint64(s.attPidnsp(i))}
}

// attach registers this process. It returns the entry index, or -1 when
// the table is full even after dropping dead entries.
func (s *segment) attach() int {
	for pass := 0; pass < 2; pass++ {
		for i := 0; i < s.capacity; i++ {
			if atomic.LoadUint32(s.attPIDp(i)) != 0 || !atomic.CompareAndSwapUint32(s.attPIDp(i), 0, s.me.pid) {
				continue
			}
			atomic.StoreUint64(s.attPstartp(i), s.me.pstart)
			atomic.StoreUint64(s.attPidnsp(i), s.me.pidns)
			atomic.StoreUint32(s.attRefsp(i), 1)
			return i
		}
		cache := liveCache{}
		for i := 0; i < s.capacity; i++ {
			s.dropDeadAttachment(i, cache)
		}
	}
	return -1
}

// dropDeadAttachment frees entry i if its process is dead.
func (s *segment) dropDeadAttachment(i int, cache liveCache) {
	id := s.attIdent(i)
	if id.pid == 0 || s.isAlive(cache, id) {
		return
	}
	// Zero the start time first: a claimer that wins the entry next writes
	// its own, and meanwhile 0 makes the check compare pids only.
	atomic.StoreUint32(s.attRefsp(i), 0)
	atomic.StoreUint64(s.attPstartp(i), 0)
	atomic.CompareAndSwapUint32(s.attPIDp(i), id.pid, 0)
}

func (s *segment) detachEntry(i int) {
	if i < 0 {
		return
	}
	atomic.StoreUint32(s.attRefsp(i), 0)
	atomic.StoreUint64(s.attPstartp(i), 0)
	atomic.StoreUint32(s.attPIDp(i), 0)
}

// attachedCount counts live attached processes, dropping dead entries.
func (s *segment) attachedCount() int {
	cache := liveCache{}
	n := 0
	for i := 0; i < s.capacity; i++ {
		s.dropDeadAttachment(i, cache)
		if atomic.LoadUint32(s.attPIDp(i)) != 0 {
			n++
		}
	}
	return n
}

// lastUserGone decides, for an anonymous segment whose own entry is already
// removed, whether this process was its last live user. If so it marks the
// segment removed and returns true: the caller unlinks the file. An
// attacher registers before it checks segState, and we move segState to
// segClosing before we count, so one of us always sees the other.
func (s *segment) lastUserGone() bool {
	st := s.u32(offSegState)
	for start := MonotonicNow(); ; {
		if atomic.CompareAndSwapUint32(st, segReady, segClosing) {
			atomic.StoreUint32(s.u32(offCloserPID), s.me.pid)
			atomic.StoreUint32(s.u32(offCloserTag), uint32(s.key))
			if s.attachedCount() > 0 {
				atomic.StoreUint32(st, segReady)
				return false
			}
			atomic.StoreUint32(st, segRemoved)
			return true
		}
		switch atomic.LoadUint32(st) {
		case segRemoved:
			return false
		case segClosing:
			if s.waitClosing(start) {
				return false // stuck: leave the file rather than guess
			}
		default:
			return false // not a state we may act on
		}
	}
}

// waitClosing waits briefly for another process to finish deciding; if
// that process died mid-decision, it reopens the segment. A decision takes
// microseconds, so after a second (from start, a MonotonicNow reading) it
// reports that the segment is stuck (hostile or corrupt): the caller gives
// up.
func (s *segment) waitClosing(start int64) (stuck bool) {
	st := s.u32(offSegState)
	waited := MonotonicNow() - start
	closer := uint64(atomic.LoadUint32(s.u32(offCloserPID)))<<32 | uint64(atomic.LoadUint32(s.u32(offCloserTag)))
	if waited > 20e6 && !keyAlive(closer, s.me, s.dev, s.ino) {
		atomic.CompareAndSwapUint32(st, segClosing, segReady)
		return false
	}
	sleepBriefly()
	return waited > 1e9
}
