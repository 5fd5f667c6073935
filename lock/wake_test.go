package lock

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// Waking writers (layout.go): a release wakes the writer that is due and
// no other, and keeps stateWritersWaiting while others wait.

// TestNextWriter: the writer that is due is the one that began to wait
// first (ties to the lower slot, a writer that never waited last), the
// field's owner is skipped, and others tells whether one more waits.
func TestNextWriter(t *testing.T) {
	l, _ := openTest(t, Options{Capacity: 64})
	s := l.seg
	set := func(i int, st uint32, since int64) {
		atomic.StoreUint64(s.owner(i), s.key)
		atomic.StoreUint64(s.ctl(i), makeCtl(1, st))
		atomic.StoreInt64(s.since(i), since)
		s.markUsed(i)
	}
	reset := func() {
		for i := 0; i < 64; i++ {
			atomic.StoreUint64(s.ctl(i), 0)
			atomic.StoreUint64(s.owner(i), 0)
			atomic.AndUint64(s.bitmapWord(0), ^uint64(1<<i))
		}
	}
	defer reset()
	for _, c := range []struct {
		name   string
		slots  map[int][2]int64 // slot -> {state, since}
		skip   int
		first  int
		others bool
	}{
		{"none", map[int][2]int64{3: {slotRead, 5}}, -1, -1, false},
		{"alone", map[int][2]int64{7: {slotWaitWrite, 9}}, -1, 7, false},
		{"oldest", map[int][2]int64{2: {slotWaitWrite, 30}, 9: {slotWaitWrite, 10}, 4: {slotWaitWrite, 20}}, -1, 9, true},
		{"tie to lower", map[int][2]int64{12: {slotWaitWrite, 10}, 5: {slotWaitWrite, 10}}, -1, 5, true},
		{"never waited last", map[int][2]int64{1: {slotWaitWrite, 0}, 6: {slotWaitWrite, 50}}, -1, 6, true},
		{"only never waited", map[int][2]int64{1: {slotWaitWrite, 0}, 6: {slotWaitWrite, 0}}, -1, 1, true},
		{"owner skipped", map[int][2]int64{2: {slotWaitWrite, 5}, 8: {slotWaitWrite, 6}}, 2, 8, false},
		{"other states ignored", map[int][2]int64{2: {slotWaitRead, 1}, 3: {slotGranted, 1}, 4: {slotIdle, 1}, 8: {slotWaitWrite, 6}}, -1, 8, false},
	} {
		reset()
		for i, v := range c.slots {
			set(i, uint32(v[0]), v[1])
		}
		first, others := s.nextWriter(c.skip)
		if first != c.first || others != c.others {
			t.Errorf("%s: nextWriter(%d) = %d, %v; want %d, %v", c.name, c.skip, first, others, c.first, c.others)
		}
		// The lock word a clearing leaves: the writers' bit only while
		// another waits besides the one woken.
		old := withWriter(stateWritersWaiting|stateReadersWaiting|stateDrainWaiting, 0)
		if c.skip >= 0 {
			old = withWriter(stateWritersWaiting|stateReadersWaiting|stateDrainWaiting, c.skip)
		}
		nw, f := s.clearedWord(old, c.skip)
		want := uint32(0)
		if c.others {
			want = stateWritersWaiting
		}
		if nw != want || f != c.first {
			t.Errorf("%s: clearedWord(%#x) = %#x, %d; want %#x, %d", c.name, old, nw, f, want, c.first)
		}
	}
}

// TestWriterChain is the Go engine's twin of test_writer_chain
// (tests/c/test_threads.c): writers queued in turn, each asleep well past
// the 4 ms bound, get in in the order they came, each woken by its
// predecessor's release. The first release of each round comes just after
// the first writer's first poll (every sleep ends 10 ms after the
// sleeper's previous check), so a release that woke the wrong writer, or
// none, would leave that writer asleep for about 9 ms more.
func TestWriterChain(t *testing.T) {
	l, _ := openTest(t, Options{})
	const writers, rounds = 3, 12
	var first, next []time.Duration
	for round := 0; round < rounds; round++ {
		mustAcquire(t, l, 1, ModeWrite)
		type result struct {
			err           error
			in, releasing time.Time
		}
		res := make([]chan result, writers)
		var t0 time.Time
		for k := 0; k < writers; k++ {
			res[k] = make(chan result, 1)
			go func(o Owner, out chan<- result) {
				var r result
				if r.err = l.Acquire(o, ModeWrite, 20*time.Second); r.err == nil {
					r.in = time.Now()
					time.Sleep(time.Millisecond)
					r.releasing = time.Now()
					r.err = l.Release(o)
				}
				out <- r
			}(Owner(10+k), res[k])
			waitFor(t, 10*time.Second, "writer queued", func() bool {
				st, _ := l.Stats()
				return st.WaitingWriters == k+1
			})
			if k == 0 {
				t0 = time.Now() // writer 0 has gone to sleep
			}
			time.Sleep(2 * time.Millisecond) // the next one's wait begins well after
		}
		time.Sleep(time.Until(t0.Add(10500 * time.Microsecond))) // past writer 0's first poll
		released := time.Now()
		mustRelease(t, l, 1)
		var rs []result
		for k := 0; k < writers; k++ {
			r := <-res[k]
			if r.err != nil {
				t.Fatalf("round %d writer %d: %v", round, k, r.err)
			}
			if k > 0 && r.in.Before(rs[k-1].in) {
				t.Errorf("round %d: writer %d got in before writer %d, which came first", round, k, k-1)
			}
			if k == 0 {
				first = append(first, r.in.Sub(released))
			} else {
				next = append(next, r.in.Sub(rs[k-1].releasing))
			}
			rs = append(rs, r)
		}
	}
	slices.Sort(first)
	slices.Sort(next)
	t.Logf("first hand-off p50 %v (max %v), later ones p50 %v (max %v)",
		first[len(first)/2], first[len(first)-1], next[len(next)/2], next[len(next)-1])
	if p50 := first[len(first)/2]; p50 > 2*time.Millisecond {
		t.Errorf("first hand-off p50 %v: the writer that was due was not woken (a lost wake-up costs about 9 ms here)", p50)
	}
	if p50 := next[len(next)/2]; p50 > 5*time.Millisecond {
		t.Errorf("later hand-offs p50 %v", p50)
	}
}

// TestWaitedBefore: the order of "Among writers" in layout.go.
func TestWaitedBefore(t *testing.T) {
	for _, c := range []struct {
		sj    int64
		j     int
		si    int64
		i     int
		first bool
	}{
		{5, 9, 7, 1, true},  // earlier since first, whatever the slots
		{7, 1, 5, 9, false}, // later since after
		{5, 2, 5, 3, true},  // tie: lower slot first
		{5, 3, 5, 2, false}, // tie: higher slot after
		{5, 9, 0, 1, true},  // a writer that waited before one that never did
		{0, 1, 5, 9, false}, // and never the other way
		{0, 1, 0, 2, true},  // neither waited: lower slot first
		{0, 2, 0, 1, false},
	} {
		if got := waitedBefore(c.sj, c.j, c.si, c.i); got != c.first {
			t.Errorf("waitedBefore(%d, %d, %d, %d) = %v, want %v", c.sj, c.j, c.si, c.i, got, c.first)
		}
	}
}
