package lock

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Tests of the lone writer's steps (layout.go, "Lone writers").

// A writer alone with its kept slot holds write with slotWrite and the
// field, and leaves both cleared, the slot kept idle.
func TestLoneWriterHoldsAndLeavesCleanly(t *testing.T) {
	l, _ := openTest(t, Options{})
	s := l.seg
	mustAcquire(t, l, 1, ModeWrite)
	mustRelease(t, l, 1) // the slot is kept now: the next hold is a lone writer's
	for round := 0; round < 3; round++ {
		mustAcquire(t, l, 1, ModeWrite)
		i := int(s.rec(1).slot)
		if st := atomic.LoadUint32(s.state()); st != withWriter(0, i) || s.slotState(i) != slotWrite {
			t.Fatalf("round %d: holding: state %#x, slot %d in state %d", round, st, i, s.slotState(i))
		}
		if h, _ := l.Holders(); len(h) != 1 || h[0].Mode != ModeWrite || h[0].Waiting {
			t.Fatalf("round %d: holders %+v", round, h)
		}
		mustRelease(t, l, 1)
		if st := atomic.LoadUint32(s.state()); st != 0 || s.slotState(i) != slotIdle || int(s.rec(1).idle) != i {
			t.Fatalf("round %d: released: state %#x, slot %d in state %d, kept %d", round, st, i, s.slotState(i), s.rec(1).idle)
		}
	}
	// With company the lone path steps aside: a reader inside keeps a
	// try-write out and the lock word as it was.
	mustAcquire(t, l, 2, ModeRead)
	if err := l.Acquire(1, ModeWrite, 0); !errors.Is(err, ErrBusy) {
		t.Fatalf("try-write beside a reader: %v", err)
	}
	if st := atomic.LoadUint32(s.state()); st != 0 {
		t.Fatalf("a failed try-write left state %#x", st)
	}
	mustRelease(t, l, 2)
}

// A slot in slotWrite that does not own the field is a lone writer between
// its steps: no holder for inspection, and when its process dies, recovery
// frees it without an owner-dead mark (nothing was being written).
func TestLoneWriterBetweenStepsHoldsNothing(t *testing.T) {
	l, _ := openTest(t, Options{})
	s := l.seg
	me := self()
	i := forgeWriter(t, l, ident{pid: me.pid, pstart: me.pstart + 12345, pidns: me.pidns}) // a dead process
	atomic.StoreUint32(s.state(), 0)                                                       // before taking the field, or after clearing it
	if h, _ := l.Holders(); len(h) != 0 {
		t.Fatalf("a slotWrite slot without the field listed as a holder: %+v", h)
	}
	if st, _ := l.Stats(); st.WriterPID != 0 || st.WriterActive {
		t.Fatalf("stats name a writer: %+v", st)
	}
	if n, err := l.Recover(); err != nil || n != 1 {
		t.Fatalf("Recover: %d, %v", n, err)
	}
	if s.slotState(i) != slotFree {
		t.Fatalf("slot %d left in state %d", i, s.slotState(i))
	}
	if st, _ := l.Stats(); st.OwnerDead || st.OwnerDeaths != 0 || st.UsedSlots != 0 {
		t.Fatalf("recovery of a writer that held nothing: %+v", st)
	}
	if err := l.Acquire(1, ModeWrite, 0); err != nil {
		t.Fatalf("write after the recovery: %v", err)
	}
	mustRelease(t, l, 1)
}

// A reader that keeps its slot idle between holds and a lone writer race
// for the same instants: the writer's second look (after it took the
// field) must see a reader that slipped in after its first, or both would
// be inside. Each side checks the invariant inside its critical section.
func TestLoneWriterRacesKeptReader(t *testing.T) {
	l, _ := openTest(t, Options{})
	m := newSharedMem(t)
	var wg sync.WaitGroup
	deadline := time.Now().Add(time.Second)
	for k, mode := range []Mode{ModeWrite, ModeRead} {
		wg.Add(1)
		go func(o Owner, mode Mode) {
			defer wg.Done()
			for n := 0; n < 20000 || time.Now().Before(deadline); n++ {
				if err := l.Acquire(o, mode, -1); err != nil {
					t.Error(err)
					return
				}
				checkInside(m, mode == ModeWrite, 0)
				if err := l.Release(o); err != nil {
					t.Error(err)
					return
				}
			}
		}(Owner(1+k), mode)
	}
	wg.Wait()
	expectNoViolations(t, m)
}
