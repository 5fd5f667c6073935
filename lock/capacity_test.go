//go:build linux

package lock

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// fillReaders makes owners 1..n hold read on l.
func fillReaders(t *testing.T, l *Lock, n int) {
	t.Helper()
	for o := 1; o <= n; o++ {
		if err := l.Acquire(Owner(o), ModeRead, 0); err != nil {
			t.Fatalf("owner %d of %d: %v", o, n, err)
		}
	}
}

// checkFull asserts that err is the capacity error: ErrFull and EAGAIN,
// naming the limit and the creation option that raises it.
func checkFull(t *testing.T, err error, limit int, took time.Duration) {
	t.Helper()
	if !errors.Is(err, ErrFull) || !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("want ErrFull (EAGAIN), got %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"all " + strconv.Itoa(limit) + " ", "Options.Capacity", strconv.Itoa(MaxCapacity)} {
		if !strings.Contains(msg, want) {
			t.Fatalf("error %q does not say %q", msg, want)
		}
	}
	// The error must come at once, never after a wait; the bound is
	// generous for a loaded machine (the figure is logged).
	if took > time.Second {
		t.Fatalf("ErrFull took %v", took)
	}
}

// A default lock serves DefaultCapacity holders at once, and one more gets
// ErrFull at once, whether it tries, waits with a timeout or waits forever.
// Once they leave, a writer gets in.
func TestDefaultCapacityHolders(t *testing.T) {
	if DefaultCapacity < 1024 {
		t.Fatalf("DefaultCapacity %d: a default lock must serve at least 1024 holders", DefaultCapacity)
	}
	l, _ := openTest(t, Options{})
	if st, _ := l.Stats(); st.Capacity != DefaultCapacity {
		t.Fatalf("capacity %d, want %d", st.Capacity, DefaultCapacity)
	}
	fillReaders(t, l, DefaultCapacity)
	extra := Owner(DefaultCapacity + 1)
	for _, timeout := range []time.Duration{0, time.Second, -1} {
		for _, m := range []Mode{ModeRead, ModeWrite} {
			t0 := time.Now()
			err := l.Acquire(extra, m, timeout)
			took := time.Since(t0)
			checkFull(t, err, DefaultCapacity, took)
			t.Logf("%s, timeout %v: ErrFull after %v: %v", m, timeout, took, err)
		}
	}
	if st, _ := l.Stats(); st.Readers != DefaultCapacity || st.UsedSlots != DefaultCapacity {
		t.Fatalf("%+v", st)
	}
	for o := 1; o <= DefaultCapacity; o++ {
		mustRelease(t, l, Owner(o))
	}
	mustAcquire(t, l, extra, ModeWrite)
	mustRelease(t, l, extra)
}

// The largest capacity holds MaxCapacity readers; a writer that queued
// while they held gets in once they leave, and the table ends empty.
func TestMaxCapacityHolders(t *testing.T) {
	l, _ := openTest(t, Options{Capacity: MaxCapacity})
	fillReaders(t, l, MaxCapacity-1)
	writer := Owner(MaxCapacity)
	done := make(chan error, 1)
	go func() { done <- l.Acquire(writer, ModeWrite, 30*time.Second) }()
	waitFor(t, 10*time.Second, "writer queued", func() bool { st, _ := l.Stats(); return st.WaitingWriters == 1 })
	t0 := time.Now()
	err := l.Acquire(MaxCapacity+1, ModeRead, 0)
	checkFull(t, err, MaxCapacity, time.Since(t0))
	for o := 1; o < MaxCapacity; o++ {
		mustRelease(t, l, Owner(o))
	}
	if err := <-done; err != nil {
		t.Fatalf("writer after %d readers: %v", MaxCapacity-1, err)
	}
	mustRelease(t, l, writer)
	if st, _ := l.Stats(); st.UsedSlots != 0 || st.Capacity != MaxCapacity {
		t.Fatalf("%+v", st)
	}
}

func TestCapacityOption(t *testing.T) {
	for _, c := range []struct{ ask, got int }{{0, DefaultCapacity}, {1, 64}, {64, 64}, {65, 128},
		{1000, 1024}, {MaxCapacity, MaxCapacity}} {
		l, _ := openTest(t, Options{Capacity: c.ask})
		if st, _ := l.Stats(); st.Capacity != c.got {
			t.Errorf("Capacity %d: got %d, want %d", c.ask, st.Capacity, c.got)
		}
	}
	for _, bad := range []int{-1, MaxCapacity + 1, 1 << 20} {
		if _, err := Open(uniqueName(t), Options{Create: true, Capacity: bad}); !errors.Is(err, ErrInvalid) {
			t.Errorf("Capacity %d: %v", bad, err)
		}
	}
}

// Opening an existing lock keeps the creator's capacity.
func TestCapacityIsTheCreators(t *testing.T) {
	l, name := openTest(t, Options{Capacity: 128})
	other, err := Open(name, Options{Create: true, Capacity: MaxCapacity})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if st, _ := l.Stats(); st.Capacity != 128 {
		t.Fatalf("capacity %d", st.Capacity)
	}
}

// A full table of a dead process's slots makes room for a claim.
func TestFullTableOfDeadOwnersMakesRoom(t *testing.T) {
	l, _ := openTest(t, Options{Capacity: 64})
	s := l.seg
	dead := ident{pid: 4000001, pstart: 1, pidns: self().pidns}
	for i := 0; i < 64; i++ {
		atomic.StoreUint64(s.owner(i), processKey(dead))
		atomic.StoreUint64(s.holder(i), uint64(100+i))
		atomic.StoreUint64(s.pstart(i), dead.pstart)
		atomic.StoreUint64(s.pidns(i), dead.pidns)
		atomic.StoreUint64(s.ctl(i), makeCtl(1, slotRead))
		s.markUsed(i)
	}
	mustAcquire(t, l, 1, ModeWrite)
	mustRelease(t, l, 1)
	if st, _ := l.Stats(); st.UsedSlots != 0 || st.Recoveries != 64 {
		t.Fatalf("%+v", st)
	}
}

// A sweep of a full table stops after its budget and the next one resumes
// where it stopped, so repeated attempts judge every entry.
func TestSweepBoundedResumes(t *testing.T) {
	l, _ := openTest(t, Options{Capacity: 256})
	s := l.seg
	var next atomic.Int32
	seen := make([]int, s.capacity)
	calls := 0
	for covered := 0; covered < s.capacity; calls++ {
		if calls > s.capacity {
			t.Fatalf("no progress: %d of %d entries after %d sweeps", covered, s.capacity, calls)
		}
		visited := 0
		s.sweepBounded(&next, func(i int, _ liveCache) {
			if seen[i] == 0 {
				covered++
			}
			seen[i]++
			visited++
			time.Sleep(time.Duration(fullSweepBudget) / 8) // an expensive liveness check
		})
		if visited == 0 || visited > 32 {
			t.Fatalf("sweep %d visited %d entries", calls, visited)
		}
	}
	if calls < 4 {
		t.Fatalf("%d sweeps covered the table: the budget did not bound them", calls)
	}
	// Without expensive checks one sweep covers everything.
	visited := 0
	s.sweepBounded(&next, func(int, liveCache) { visited++ })
	if visited != s.capacity {
		t.Fatalf("cheap sweep visited %d of %d", visited, s.capacity)
	}
}

// Attaching to an anonymous lock whose attachment entries are all taken by
// live processes fails at once with ErrFull naming the limit.
func TestAttachFullAnonymous(t *testing.T) {
	l, err := CreateAnonymous(Options{Capacity: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s := l.seg
	// Entries in our own name: a live process that maps the lock, so the
	// helper must count them as live users.
	forged := func(i int) bool { return i != s.attSlot }
	for i := 0; i < s.capacity; i++ {
		if atomic.CompareAndSwapUint32(s.attPIDp(i), 0, s.me.pid) {
			atomic.StoreUint64(s.attPstartp(i), s.me.pstart)
			atomic.StoreUint64(s.attPidnsp(i), s.me.pidns)
		}
	}
	freeForged := func() {
		for i := 0; i < s.capacity; i++ {
			if forged(i) {
				s.detachEntry(i)
			}
		}
	}
	defer freeForged() // before Close: else Close would leave the file to the "other users"
	_, out := startHelper(t, "attach-full", l.Token())
	line := out.expect(t, "result", 30*time.Second)
	if !strings.Contains(line, fmt.Sprintf("result %d ", syscall.EAGAIN)) ||
		!strings.Contains(line, "all 64 attachment entries") || !strings.Contains(line, "Options.Capacity") {
		t.Fatalf("helper: %q", line)
	}
	t.Log(line)
	// Entries freed: attaching works again.
	freeForged()
	_, out = startHelper(t, "attach-full", l.Token())
	if line := out.expect(t, "result", 30*time.Second); !strings.HasPrefix(line, "result 0 ") {
		t.Fatalf("helper after entries freed: %q", line)
	}
}

func init() {
	// attach-full TOKEN: attach, report the errno, the error and how long
	// the attempt took.
	helpers["attach-full"] = func(args []string) {
		t0 := time.Now()
		l, err := OpenToken(args[0])
		took := time.Since(t0)
		if err == nil {
			l.Close()
		}
		fmt.Printf("result %d took %v: %v\n", int(Errno(err)), took, err)
	}
}

// A pending writer judges readers only up to the first live one, so a dead
// reader behind a live one is recovered once the live one leaves, and one
// in front of it at once.
func TestDeadReaderBehindLiveReader(t *testing.T) {
	for _, deadFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("deadFirst=%v", deadFirst), func(t *testing.T) {
			l, _ := openTest(t, Options{Capacity: 128})
			s := l.seg
			mustAcquire(t, l, 1, ModeRead)
			live := int(l.seg.recs.load(1).slot)
			dead := 127
			if deadFirst {
				dead = 0
			}
			if live == dead {
				dead = 64
			}
			gone := ident{pid: 4000001, pstart: 1, pidns: s.me.pidns}
			atomic.StoreUint64(s.owner(dead), processKey(gone))
			atomic.StoreUint64(s.holder(dead), 9)
			atomic.StoreUint64(s.pstart(dead), 1)
			atomic.StoreUint64(s.pidns(dead), s.me.pidns)
			atomic.StoreUint64(s.ctl(dead), makeCtl(1, slotRead))
			s.markUsed(dead)
			done := make(chan error, 1)
			go func() { done <- l.Acquire(2, ModeWrite, 10*time.Second) }()
			time.Sleep(50 * time.Millisecond) // several polls
			if ctlState(atomic.LoadUint64(s.ctl(dead))) == slotRead && deadFirst {
				t.Fatal("the dead reader in front of a live one was not recovered")
			}
			t0 := time.Now()
			mustRelease(t, l, 1)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			t.Logf("writer in %v after the live reader left", time.Since(t0))
			mustRelease(t, l, 2)
			if st, _ := l.Stats(); st.UsedSlots != 0 || st.Recoveries != 1 {
				t.Fatalf("%+v", st)
			}
		})
	}
}

// Inspecting a lock (Stats, Holders, Recover) reads only the pages of its
// tables that were touched: it never makes the kernel allocate the rest of
// the sparse file.
func TestInspectionTouchesNoNewPages(t *testing.T) {
	l, _ := openTest(t, Options{Capacity: MaxCapacity})
	allocated := func() int64 {
		var st syscall.Stat_t
		if err := syscall.Stat(l.Path(), &st); err != nil {
			t.Fatal(err)
		}
		return st.Blocks * 512
	}
	fillReaders(t, l, 100)
	before := allocated()
	st, err := l.Stats()
	if err != nil || st.UsedSlots != 100 || st.Readers != 100 || st.Attached != 1 {
		t.Fatalf("%+v %v", st, err)
	}
	if _, err := l.Holders(); err != nil {
		t.Fatal(err)
	}
	if n, err := l.Recover(); n != 0 || err != nil {
		t.Fatal(n, err)
	}
	if after := allocated(); after != before {
		t.Fatalf("inspection grew the file from %d to %d bytes (of %d)", before, after, st.Capacity)
	}
	t.Logf("a %d-slot lock with 100 readers: %d KiB allocated", st.Capacity, before/1024)
	for o := 1; o <= 100; o++ {
		mustRelease(t, l, Owner(o))
	}
}
