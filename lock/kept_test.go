package lock

import (
	"encoding/binary"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"
)

// keptBy returns the slots in state slotIdle and the slots in any state
// that this process owns.
func keptBy(s *segment) (idle, owned []int) {
	for i := 0; i < s.capacity; i++ {
		if atomic.LoadUint64(s.owner(i)) != s.key {
			continue
		}
		owned = append(owned, i)
		if s.slotState(i) == slotIdle {
			idle = append(idle, i)
		}
	}
	return
}

// An owner keeps its slot idle between holds, and every hold, read or
// write, uses that one slot.
func TestKeptSlotServesEveryHold(t *testing.T) {
	l, _ := openTest(t, Options{})
	s := l.seg
	mustAcquire(t, l, 1, ModeRead)
	i := int(s.rec(1).slot)
	mustRelease(t, l, 1)
	for k := 0; k < 3; k++ {
		for _, m := range []Mode{ModeRead, ModeWrite} {
			if idle, owned := keptBy(s); len(idle) != 1 || idle[0] != i || len(owned) != 1 {
				t.Fatalf("between holds: idle %v, owned %v; want slot %d idle", idle, owned, i)
			}
			mustAcquire(t, l, 1, m)
			if got := int(s.rec(1).slot); got != i {
				t.Fatalf("%v hold in slot %d, want the kept slot %d", m, got, i)
			}
			mustRelease(t, l, 1)
		}
	}
	if st, _ := l.Stats(); st.UsedSlots != 0 || st.Readers != 0 {
		t.Fatalf("stats count a kept slot: %+v", st)
	}
	if h, _ := l.Holders(); len(h) != 0 {
		t.Fatalf("holders list a kept slot: %+v", h)
	}
	// Abandon (a thread's end) gives the slot up.
	if err := l.Abandon(1); err != ErrNotHeld {
		t.Fatalf("abandon of an owner that holds nothing: %v", err)
	}
	if _, owned := keptBy(s); len(owned) != 0 {
		t.Fatalf("abandoned owner still owns slots %v", owned)
	}
}

// A table full of kept slots makes room for a new owner: kept slots are a
// cache, never a reason to refuse a holder. The owners whose slots were
// taken away claim others on their next hold.
func TestFullTableEvictsKeptSlots(t *testing.T) {
	l, _ := openTest(t, Options{Capacity: 64})
	s := l.seg
	for o := Owner(1); o <= 64; o++ {
		mustAcquire(t, l, o, ModeRead)
		mustRelease(t, l, o)
	}
	if idle, _ := keptBy(s); len(idle) != 64 {
		t.Fatalf("%d kept slots, want 64", len(idle))
	}
	mustAcquire(t, l, 65, ModeWrite)
	mustRelease(t, l, 65)
	for o := Owner(1); o <= 64; o++ {
		mustAcquire(t, l, o, ModeRead) // hold them all at once: each needs a slot
	}
	if st, _ := l.Stats(); st.Readers != 64 {
		t.Fatalf("%d readers, want 64", st.Readers)
	}
	if err := l.Acquire(66, ModeRead, 0); !errors.Is(err, ErrFull) {
		t.Fatalf("a 65th holder in a 64-slot table of holders: %v, want ErrFull", err)
	}
	for o := Owner(1); o <= 64; o++ {
		mustRelease(t, l, o)
	}
}

// Evictions race with the keepers' own acquires: exactly one side wins
// each slot, no hold is lost, and exclusion holds throughout.
func TestEvictionRacesAcquire(t *testing.T) {
	l, _ := openTest(t, Options{Capacity: 64})
	s := l.seg
	const owners, rounds = 8, 20000
	var inside, writer atomic.Int32
	var wg sync.WaitGroup
	for o := 1; o <= owners; o++ {
		wg.Add(1)
		go func(o Owner) {
			defer wg.Done()
			for k := 0; k < rounds; k++ {
				// Many writes: a releasing writer's slot must not be
				// evictable while the writer field still names it.
				m := ModeRead
				if k%3 == 0 {
					m = ModeWrite
				}
				if err := l.Acquire(o, m, -1); err != nil {
					t.Errorf("owner %d: %v", o, err)
					return
				}
				if m == ModeWrite {
					if writer.Add(1) != 1 || inside.Load() != 0 {
						t.Errorf("writer not alone")
					}
					writer.Add(-1)
				} else {
					inside.Add(1)
					if writer.Load() != 0 {
						t.Errorf("reader beside a writer")
					}
					inside.Add(-1)
				}
				if err := l.Release(o); err != nil {
					t.Errorf("owner %d release: %v", o, err)
					return
				}
			}
		}(Owner(o))
	}
	stopEvictor := evictor(s)
	wg.Wait()
	evicted := stopEvictor()
	if evicted == 0 {
		t.Fatal("the evictor never took a kept slot: the race was not exercised")
	}
	t.Logf("%d kept slots taken away", evicted)
	if st, _ := l.Stats(); st.UsedSlots != 0 || st.Readers != 0 || st.WriterPID != 0 {
		t.Fatalf("after the run: %+v", st)
	}
}

// Closing the lock gives up every kept slot.
func TestCloseRetiresKeptSlots(t *testing.T) {
	l, name := openTest(t, Options{})
	path, key := l.seg.path, l.seg.key
	for o := Owner(1); o <= 5; o++ {
		mustAcquire(t, l, o, ModeRead)
		mustRelease(t, l, o)
	}
	if idle, _ := keptBy(l.seg); len(idle) != 5 {
		t.Fatalf("%d kept slots, want 5", len(idle))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	capacity := int(binary.NativeEndian.Uint32(b[offCapacity:]))
	slotOff, _, _ := layoutFor(capacity)
	for i := 0; i < capacity; i++ {
		if own := binary.NativeEndian.Uint64(b[slotOff+i*slotSize+slotOwner:]); own == key {
			t.Errorf("slot %d still ours after close (%s)", i, name)
		}
	}
}

// Every writer's scans pay for each idle slot, so a releasing writer
// leaves at most keptScanMax of them; the owners of the others claim a
// slot again on their next hold.
func TestWriterKeepsKeptSlotsFew(t *testing.T) {
	l, _ := openTest(t, Options{})
	s := l.seg
	const owners = 3 * keptScanMax
	for o := Owner(1); o <= owners; o++ {
		mustAcquire(t, l, o, ModeRead)
		mustRelease(t, l, o)
	}
	if idle, _ := keptBy(s); len(idle) != owners {
		t.Fatalf("%d kept slots, want %d", len(idle), owners)
	}
	mustAcquire(t, l, owners+1, ModeWrite)
	mustRelease(t, l, owners+1)
	// The writer's own slot went idle before its scan: it may count.
	if idle, owned := keptBy(s); len(idle) > keptScanMax+1 || len(owned) != len(idle) {
		t.Fatalf("after a write: %d kept slots (%d owned), want at most %d", len(idle), len(owned), keptScanMax+1)
	}
	for o := Owner(1); o <= owners; o++ {
		mustAcquire(t, l, o, ModeRead)
	}
	if st, _ := l.Stats(); st.Readers != owners {
		t.Fatalf("%d readers, want %d", st.Readers, owners)
	}
	for o := Owner(1); o <= owners; o++ {
		mustRelease(t, l, o)
	}
}

// A slot named by the writer field must never be evictable: another
// owner could claim it and, finding its own index in the field, believe
// it owned the lock. Writers whose claims all start at the same slot
// race an evictor, so that a releasing writer's slot is the first one
// any re-claiming writer tries.
func TestEvictedSlotNeverNamedByField(t *testing.T) {
	l, _ := openTest(t, Options{Capacity: 64})
	s := l.seg
	var ws []Owner
	for o := Owner(1); len(ws) < 4; o++ {
		if claimStart(o) == claimStart(1) {
			ws = append(ws, o)
		}
	}
	var inside, violations atomic.Int32
	var spin atomic.Int64
	var wg sync.WaitGroup
	stopEvictor := evictor(s)
	for _, o := range ws {
		wg.Add(1)
		go func(o Owner) {
			defer wg.Done()
			for k := 0; k < 20000; k++ {
				if err := l.Acquire(o, ModeWrite, -1); err != nil {
					t.Errorf("owner %d: %v", o, err)
					return
				}
				if inside.Add(1) != 1 {
					violations.Add(1)
				}
				for j := 0; j < 300; j++ { // stay a moment: a wrong grant must overlap
					spin.Add(1)
				}
				inside.Add(-1)
				if err := l.Release(o); err != nil {
					t.Errorf("owner %d release: %v", o, err)
					return
				}
			}
		}(o)
	}
	wg.Wait()
	stopEvictor()
	if n := violations.Load(); n != 0 {
		t.Fatalf("%d times two writers were inside", n)
	}
}

// evictor takes idle slots away as fast as it can, as full tables in other
// processes would, until the returned function is called; that returns
// how many it took.
func evictor(s *segment) (stop func() int) {
	done := make(chan struct{})
	out := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-done:
				out <- n
				return
			default:
			}
			n += s.evictIdle()
		}
	}()
	return func() int { close(done); return <-out }
}
