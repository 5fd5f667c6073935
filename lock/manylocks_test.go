//go:build linux

package lock

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Many locks and many users: a process may keep thousands of locks open at
// the usual descriptor limit, and a full holder table turns extra holders
// away with ErrFull without ever corrupting the table.

func init() {
	helpers["manylocks"] = helperManyLocks
	helpers["nearcap"] = helperNearCapacity
}

func selfFDs() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	return len(ents)
}

// helperManyLocks: args PREFIX COUNT. Lowers RLIMIT_NOFILE's soft limit to
// 1024 (the Go runtime raised it at start), then keeps COUNT named locks
// open at once, each held for writing.
func helperManyLocks(args []string) {
	n, _ := strconv.Atoi(args[1])
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		fmt.Println("getrlimit", err)
		os.Exit(1)
	}
	rl.Cur = 1024
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		fmt.Println("setrlimit", err)
		os.Exit(1)
	}
	unix.Getrlimit(unix.RLIMIT_NOFILE, &rl)
	if rl.Cur != 1024 {
		fmt.Println("soft limit", rl.Cur)
		os.Exit(1)
	}
	selfFDs() // the first directory read opens the runtime's poller
	fds0 := selfFDs()
	locks := make([]*Lock, 0, n)
	fail := func(format string, a ...any) {
		fmt.Printf("fail after %d locks: %s\n", len(locks), fmt.Sprintf(format, a...))
		for i, l := range locks {
			l.Close()
			Unlink(args[0] + strconv.Itoa(i))
		}
		os.Exit(1)
	}
	maxFDs := 0
	for i := 0; i < n; i++ {
		l, err := Open(args[0]+strconv.Itoa(i), Options{Create: true, Exclusive: true, Capacity: 64})
		if err != nil {
			fail("open: %v", err)
		}
		locks = append(locks, l)
		if err := l.Acquire(1, ModeWrite, 0); err != nil {
			fail("acquire: %v", err)
		}
		if i%1000 == 999 {
			if f := selfFDs(); f > maxFDs {
				maxFDs = f
			}
		}
	}
	// All open and held at once; each is its own lock.
	for i, l := range locks {
		if l.Held(1) != ModeWrite {
			fail("lock %d not held", i)
		}
		if err := l.Acquire(2, ModeRead, 0); !errors.Is(err, ErrBusy) {
			fail("lock %d: second owner got %v", i, err)
		}
	}
	for i, l := range locks {
		if err := l.Release(1); err != nil {
			fail("release %d: %v", i, err)
		}
		if err := l.Close(); err != nil {
			fail("close %d: %v", i, err)
		}
		if err := Unlink(args[0] + strconv.Itoa(i)); err != nil {
			fail("unlink %d: %v", i, err)
		}
	}
	fmt.Printf("ok %d locks, fds %d at start, at most %d while open, %d after\n", n, fds0, maxFDs, selfFDs())
}

func TestTenThousandLocksAtDefaultFDLimit(t *testing.T) {
	const n = 10000
	prefix := fmt.Sprintf("many-%d-", os.Getpid())
	cmd := helperCmd(t, "manylocks", prefix, strconv.Itoa(n))
	start := time.Now()
	out, err := cmd.Output()
	t.Logf("%s(%v)", out, time.Since(start).Round(time.Millisecond))
	if err != nil || !strings.HasPrefix(string(out), "ok ") {
		t.Fatalf("helper: %v: %s", err, out)
	}
	var got, fds0, fdsMax, fds1 int
	if _, err := fmt.Sscanf(string(out), "ok %d locks, fds %d at start, at most %d while open, %d after", &got, &fds0, &fdsMax, &fds1); err != nil {
		t.Fatalf("helper output %q: %v", out, err)
	}
	if got != n || fdsMax > fds0+16 || fds1 > fds0+2 {
		t.Fatalf("descriptors grew with the number of open locks: %s", out)
	}
}

// helperNearCapacity: args NAME SHAREDPATH OWNERS MILLIS. Waits for the
// start flag, then OWNERS threads contend for the lock for MILLIS ms,
// checking the reader/writer invariant inside. Prints its tallies.
func helperNearCapacity(args []string) {
	l, err := Open(args[0], Options{})
	if err != nil {
		fmt.Println("open", err)
		os.Exit(1)
	}
	m := mapShared(args[1])
	owners, _ := strconv.Atoi(args[2])
	ms, _ := strconv.Atoi(args[3])
	fmt.Println("ready")
	for atomic.LoadInt64(m.word(wFlag)) == 0 {
		time.Sleep(time.Millisecond)
	}
	stopAt := time.Now().Add(time.Duration(ms) * time.Millisecond)
	var grants, full, timeouts, slowest atomic.Int64
	var bad atomic.Value
	var wg sync.WaitGroup
	for g := 0; g < owners; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			runtime.LockOSThread()
			o := gettid()
			r := rand.New(rand.NewPCG(uint64(os.Getpid()), uint64(g)))
			for time.Now().Before(stopAt) {
				mode := ModeRead
				if r.IntN(3) == 0 {
					mode = ModeWrite
				}
				d := []time.Duration{0, time.Millisecond, 20 * time.Millisecond, 200 * time.Millisecond}[r.IntN(4)]
				t0 := time.Now()
				err := l.Acquire(o, mode, d)
				if took := time.Since(t0); int64(took) > slowest.Load() {
					slowest.Store(int64(took))
				}
				switch {
				case err == nil:
					grants.Add(1)
					checkInside(m, mode == ModeWrite, r.IntN(3))
					if err := l.Release(o); err != nil {
						bad.Store(fmt.Sprintf("release: %v", err))
					}
				case errors.Is(err, ErrFull):
					full.Add(1)
					runtime.Gosched()
				case errors.Is(err, ErrBusy), errors.Is(err, ErrTimeout):
					timeouts.Add(1)
				default:
					bad.Store(fmt.Sprintf("acquire: %v", err))
					return
				}
			}
		}(g)
	}
	wg.Wait()
	if b := bad.Load(); b != nil {
		fmt.Println("bad", b)
		os.Exit(1)
	}
	l.Close()
	fmt.Printf("done %d %d %d %d\n", grants.Load(), full.Load(), timeouts.Load(), slowest.Load())
}

// checkTable validates the raw holder table of a lock whose users are the
// given processes: every used slot is owned by one of them (or is being
// recovered), is in a known state and is within capacity; at most one
// writer; an active writer excludes readers.
// checkTable checks the holder table of s, whose owners must all be
// processes in pids. The scan is not atomic: it can see a reader that has
// since left, or whose grant a pending writer took back (see Hand-off in
// layout.go), next to that writer's hold, or the field move from one
// writer to the next between two slots. A writer (a slotWrite slot that
// owns the field) beside readers or another writer is reported only if
// three scans in a row see it; exclusion itself is checked inside the
// critical sections (wViolations).
func checkTable(s *segment, pids map[uint32]bool) error {
	var err error
	for try := 0; try < 3; try++ {
		var mixed bool
		if mixed, err = scanTable(s, pids); err == nil || !mixed {
			return err
		}
	}
	return err
}

// scanTable is one scan of checkTable; mixed reports a writer seen beside
// readers or another writer, which a later scan may not see again.
func scanTable(s *segment, pids map[uint32]bool) (mixed bool, err error) {
	st := atomic.LoadUint32(s.state())
	if st&^stateKnownBits != 0 {
		return false, fmt.Errorf("unknown bits in lock word %#x", st)
	}
	if w := writerOf(st); w >= s.capacity {
		return false, fmt.Errorf("writer index %d beyond capacity %d", w, s.capacity)
	}
	used, writers, readers := 0, 0, 0
	for i := 0; i < s.capacity; i++ {
		own := atomic.LoadUint64(s.owner(i))
		if own == 0 {
			continue
		}
		used++
		if pid := keyPID(own); !pids[pid] {
			return false, fmt.Errorf("slot %d owned by pid %d, not one of ours", i, pid)
		}
		switch cs := s.slotState(i); cs {
		case slotWrite:
			// Holds write only while it owns the field (Lone writers in
			// layout.go); a release clears the field before the slot
			// leaves slotWrite, and the process may be preempted between.
			if writerOf(atomic.LoadUint32(s.state())) == i {
				writers++
			}
		case slotRead, slotGranted:
			readers++
		case slotFree, slotWaitRead, slotWaitWrite, slotIdle:
		default:
			return false, fmt.Errorf("slot %d in unknown state %d", i, cs)
		}
	}
	for w := s.capacity / 64; w < (s.slotOff-offBitmap)/8; w++ {
		if atomic.LoadUint64(s.bitmapWord(w)) != 0 {
			return false, fmt.Errorf("bitmap bits set beyond capacity (word %d)", w)
		}
	}
	if used > s.capacity {
		return false, fmt.Errorf("%d used, %d writers, %d readers", used, writers, readers)
	}
	if writers > 1 || writers == 1 && readers > 0 {
		return true, fmt.Errorf("%d used, %d writers, %d readers", used, writers, readers)
	}
	return false, nil
}

// 64 processes with two threads each contend for a lock of 64 slots, so the
// table is full most of the time: extra holders get ErrFull at once, the
// rest wait and are granted, and the table stays consistent throughout.
func TestSixtyFourProcessesNearCapacity(t *testing.T) {
	const procs, owners = 64, 2
	ms := 1500
	if testing.Short() {
		ms = 500
	}
	l, name := openTest(t, Options{Capacity: 64})
	m := newSharedMem(t)
	type helper struct {
		cmd *exec.Cmd
		out *lineReader
	}
	var hs []helper
	pids := map[uint32]bool{}
	for i := 0; i < procs; i++ {
		cmd, out := startHelper(t, "nearcap", name, m.path, strconv.Itoa(owners), strconv.Itoa(ms))
		pids[uint32(cmd.Process.Pid)] = true
		hs = append(hs, helper{cmd, out})
	}
	for _, h := range hs {
		h.out.expect(t, "ready", 60*time.Second)
	}
	atomic.StoreInt64(m.word(wFlag), 1)
	// Inspect the table while they run.
	deadline := time.Now().Add(time.Duration(ms)*time.Millisecond + 500*time.Millisecond)
	checks, fullSeen, maxUsed := 0, 0, 0
	for time.Now().Before(deadline) {
		if err := checkTable(l.seg, pids); err != nil {
			t.Fatalf("holder table: %v", err)
		}
		st, err := l.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.UsedSlots > maxUsed {
			maxUsed = st.UsedSlots
		}
		if st.UsedSlots == st.Capacity {
			fullSeen++
		}
		checks++
		time.Sleep(2 * time.Millisecond)
	}
	var grants, full, timeouts, slowest int64
	for _, h := range hs {
		line := h.out.expect(t, "done", 30*time.Second)
		var g, f, to, sl int64
		if _, err := fmt.Sscanf(line, "done %d %d %d %d", &g, &f, &to, &sl); err != nil {
			t.Fatalf("helper said %q", line)
		}
		grants, full, timeouts = grants+g, full+f, timeouts+to
		if sl > slowest {
			slowest = sl
		}
		if err := h.cmd.Wait(); err != nil {
			t.Fatalf("helper: %v", err)
		}
	}
	t.Logf("%d processes x %d owners on 64 slots: %d grants, %d ErrFull, %d busy/timeouts; "+
		"table full in %d of %d checks, at most %d slots used; slowest acquire %v",
		procs, owners, grants, full, timeouts, fullSeen, checks, maxUsed, time.Duration(slowest))
	if v := atomic.LoadInt64(m.word(wViolations)); v != 0 {
		t.Fatalf("%d reader/writer invariant violations", v)
	}
	if grants == 0 || full == 0 {
		t.Fatalf("want both grants and ErrFull: %d grants, %d ErrFull", grants, full)
	}
	if time.Duration(slowest) > 200*time.Millisecond+hostileSlack {
		t.Fatalf("an acquire took %v", time.Duration(slowest))
	}
	// Everyone left: the table is empty and the lock is free.
	if err := checkTable(l.seg, pids); err != nil {
		t.Fatal(err)
	}
	st, _ := l.Stats()
	if st.UsedSlots != 0 || st.Readers != 0 || st.WriterPID != 0 || st.OwnerDead || st.Attached != 1 {
		t.Fatalf("after all helpers left: %+v", st)
	}
	for w := 0; w < (l.seg.slotOff-offBitmap)/8; w++ {
		if b := atomic.LoadUint64(l.seg.bitmapWord(w)); b != 0 {
			t.Fatalf("bitmap word %d is %#x with no users", w, b)
		}
	}
	mustAcquire(t, l, 1, ModeWrite)
	mustRelease(t, l, 1)
}
