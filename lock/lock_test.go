//go:build linux

package lock

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func mustAcquire(t testing.TB, l *Lock, o Owner, m Mode) {
	t.Helper()
	if err := l.Acquire(o, m, -1); err != nil {
		t.Fatalf("owner %d acquire %v: %v", o, m, err)
	}
}

func mustRelease(t testing.TB, l *Lock, o Owner) {
	t.Helper()
	if err := l.Release(o); err != nil {
		t.Fatalf("owner %d release: %v", o, err)
	}
}

// acquireAsync acquires in a goroutine and reports the result on a channel.
func acquireAsync(l *Lock, o Owner, m Mode, timeout time.Duration) chan error {
	ch := make(chan error, 1)
	go func() { ch <- l.Acquire(o, m, timeout) }()
	return ch
}

func expectBlocked(t testing.TB, ch chan error, d time.Duration, what string) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("%s was not blocked: %v", what, err)
	case <-time.After(d):
	}
}

func expectGranted(t testing.TB, ch chan error, d time.Duration, what string) {
	t.Helper()
	select {
	case err := <-ch:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(d):
		t.Fatalf("%s not granted within %v", what, d)
	}
}

func TestErrorMatrix(t *testing.T) {
	l, _ := openTest(t, Options{})
	const a, b = 1, 2
	cases := []struct {
		name  string
		setup []Mode // held by owner a first
		op    func() error
		want  error
	}{
		{"write after write", []Mode{ModeWrite}, func() error { return l.Acquire(a, ModeWrite, -1) }, ErrDeadlock},
		{"write after read", []Mode{ModeRead}, func() error { return l.Acquire(a, ModeWrite, -1) }, ErrDeadlock},
		{"read after write", []Mode{ModeWrite}, func() error { return l.Acquire(a, ModeRead, -1) }, ErrDeadlock},
		{"try write after write", []Mode{ModeWrite}, func() error { return l.Acquire(a, ModeWrite, 0) }, ErrDeadlock},
		{"timed write after read", []Mode{ModeRead}, func() error { return l.Acquire(a, ModeWrite, time.Second) }, ErrDeadlock},
		{"release without hold", nil, func() error { return l.Release(a) }, ErrNotHeld},
		{"release by other owner", []Mode{ModeWrite}, func() error { return l.Release(b) }, ErrNotHeld},
		{"downgrade without hold", nil, func() error { return l.Downgrade(a) }, ErrNotHeld},
		{"downgrade from read", []Mode{ModeRead}, func() error { return l.Downgrade(a) }, ErrNotHeld},
		{"owner zero", nil, func() error { return l.Acquire(0, ModeRead, -1) }, ErrInvalid},
		{"bad mode", nil, func() error { return l.Acquire(a, Mode(7), -1) }, ErrInvalid},
		{"recursive read", []Mode{ModeRead}, func() error { return l.Acquire(a, ModeRead, 0) }, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, m := range c.setup {
				mustAcquire(t, l, a, m)
			}
			err := c.op()
			if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if c.want != nil {
				if !errors.Is(err, Errno(c.want)) {
					t.Fatalf("%v does not match errno %v", err, Errno(c.want))
				}
			}
			for l.Held(a) != ModeNone {
				mustRelease(t, l, a)
			}
			if st, _ := l.Stats(); st.UsedSlots != 0 {
				t.Fatalf("slots left in use: %+v", st)
			}
		})
	}
	if l.Close() != nil || !errors.Is(l.Close(), ErrClosed) {
		t.Fatal("second close must return ErrClosed")
	}
	if err := l.Acquire(a, ModeRead, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("acquire on closed handle: %v", err)
	}
}

func TestTryAndRecursion(t *testing.T) {
	l, _ := openTest(t, Options{})
	mustAcquire(t, l, 1, ModeRead)
	if err := l.Acquire(2, ModeRead, 0); err != nil {
		t.Fatalf("shared read: %v", err)
	}
	if err := l.Acquire(3, ModeWrite, 0); !errors.Is(err, ErrBusy) || !errors.Is(err, syscall.EBUSY) {
		t.Fatalf("try write under readers: %v", err)
	}
	mustRelease(t, l, 2)
	// A recursive read must succeed while a writer is pending.
	w := acquireAsync(l, 3, ModeWrite, -1)
	waitFor(t, 2*time.Second, "writer pending", func() bool { st, _ := l.Stats(); return st.WriterPID != 0 })
	if err := l.Acquire(4, ModeRead, 0); !errors.Is(err, ErrBusy) {
		t.Fatalf("new reader entered past a pending writer: %v", err)
	}
	if err := l.Acquire(1, ModeRead, 100*time.Millisecond); err != nil {
		t.Fatalf("recursive read against a pending writer: %v", err)
	}
	if h, _ := l.Holders(); len(h) != 2 || h[0].Count+h[1].Count != 2 {
		t.Fatalf("holders: %+v", h)
	}
	mustRelease(t, l, 1)
	expectBlocked(t, w, 30*time.Millisecond, "writer while one read level remains")
	mustRelease(t, l, 1)
	expectGranted(t, w, 2*time.Second, "writer after readers left")
	if st, _ := l.Stats(); !st.WriterActive || st.Readers != 0 {
		t.Fatalf("stats under writer: %+v", st)
	}
	mustRelease(t, l, 3)
}

func TestDowngrade(t *testing.T) {
	l, _ := openTest(t, Options{})
	mustAcquire(t, l, 1, ModeWrite)
	r := acquireAsync(l, 2, ModeRead, -1)
	waitFor(t, 2*time.Second, "reader queued", func() bool { st, _ := l.Stats(); return st.WaitingReaders == 1 })
	w := acquireAsync(l, 3, ModeWrite, -1)
	waitFor(t, 2*time.Second, "writer queued", func() bool { st, _ := l.Stats(); return st.WaitingWriters == 1 })
	if err := l.Downgrade(1); err != nil {
		t.Fatal(err)
	}
	expectGranted(t, r, 2*time.Second, "queued reader after downgrade")
	if l.Held(1) != ModeRead {
		t.Fatalf("after downgrade owner holds %v", l.Held(1))
	}
	expectBlocked(t, w, 50*time.Millisecond, "writer while downgraded reader holds")
	// The waiting writer now blocks new readers.
	if err := l.Acquire(4, ModeRead, 0); !errors.Is(err, ErrBusy) {
		t.Fatalf("new reader past waiting writer: %v", err)
	}
	mustRelease(t, l, 1)
	expectBlocked(t, w, 30*time.Millisecond, "writer while a reader holds")
	mustRelease(t, l, 2)
	expectGranted(t, w, 2*time.Second, "writer after all readers left")
	mustRelease(t, l, 3)
}

// Readers that queue during a write phase enter before the next writer.
func TestPhaseHandOff(t *testing.T) {
	l, _ := openTest(t, Options{})
	mustAcquire(t, l, 1, ModeWrite)
	r1 := acquireAsync(l, 2, ModeRead, -1)
	r2 := acquireAsync(l, 3, ModeRead, -1)
	waitFor(t, 2*time.Second, "readers queued", func() bool { st, _ := l.Stats(); return st.WaitingReaders == 2 })
	// Older than starveNs: the next writer may not take their grants back,
	// however late they run (Hand-off in layout.go).
	time.Sleep(2 * time.Millisecond)
	w := acquireAsync(l, 4, ModeWrite, -1)
	waitFor(t, 2*time.Second, "writer queued", func() bool { st, _ := l.Stats(); return st.WaitingWriters == 1 })
	mustRelease(t, l, 1)
	expectGranted(t, r1, 2*time.Second, "first queued reader")
	expectGranted(t, r2, 2*time.Second, "second queued reader")
	expectBlocked(t, w, 30*time.Millisecond, "next writer while handed-off readers hold")
	mustRelease(t, l, 2)
	mustRelease(t, l, 3)
	expectGranted(t, w, 2*time.Second, "writer")
	mustRelease(t, l, 4)
}

func TestTimeoutAccuracy(t *testing.T) {
	l, _ := openTest(t, Options{})
	mustAcquire(t, l, 1, ModeWrite)
	for _, m := range []Mode{ModeRead, ModeWrite} {
		for _, d := range []time.Duration{5 * time.Millisecond, 30 * time.Millisecond, 120 * time.Millisecond} {
			t0 := time.Now()
			err := l.Acquire(2, m, d)
			el := time.Since(t0)
			if !errors.Is(err, ErrTimeout) || !errors.Is(err, syscall.ETIMEDOUT) {
				t.Fatalf("%v %v: %v", m, d, err)
			}
			// Never early; late only by scheduling noise (generous bound).
			if el < d || el > d+250*time.Millisecond {
				t.Fatalf("%v timeout %v took %v", m, d, el)
			}
		}
	}
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Millisecond)
	defer cancel()
	err := l.AcquireContext(ctx, 2, ModeRead)
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) || time.Since(t0) < 40*time.Millisecond {
		t.Fatalf("context deadline: %v after %v", err, time.Since(t0))
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	go func() { ch <- l.AcquireContext(ctx2, 3, ModeWrite) }()
	time.Sleep(20 * time.Millisecond)
	cancel2()
	select {
	case err := <-ch:
		if !errors.Is(err, ErrInterrupted) || !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled wait: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("cancel did not end the wait")
	}
	mustRelease(t, l, 1)
	if st, _ := l.Stats(); st.UsedSlots != 0 || st.WaitingReaders+st.WaitingWriters != 0 {
		t.Fatalf("timed-out waiters left state behind: %+v", st)
	}
}

// A storm of signals aimed at the waiting thread neither shortens nor
// lengthens its wait.
func TestTimeoutUnderSignalStorm(t *testing.T) {
	l, _ := openTest(t, Options{})
	mustAcquire(t, l, 1, ModeWrite)
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	go func() {
		for range sigs {
		}
	}()
	var tid atomic.Int32
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for tid.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		for {
			select {
			case <-stop:
				return
			default:
			}
			unix.Tgkill(os.Getpid(), int(tid.Load()), unix.SIGUSR1)
			time.Sleep(200 * time.Microsecond)
		}
	}()
	for _, m := range []Mode{ModeRead, ModeWrite} {
		res := make(chan time.Duration, 1)
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			tid.Store(int32(unix.Gettid()))
			t0 := time.Now()
			err := l.Acquire(gettid(), m, 200*time.Millisecond)
			if !errors.Is(err, ErrTimeout) {
				t.Errorf("%v under signals: %v", m, err)
			}
			res <- time.Since(t0)
		}()
		el := <-res
		if el < 200*time.Millisecond || el > 600*time.Millisecond {
			t.Fatalf("%v wait of 200ms under a signal storm took %v", m, el)
		}
	}
	close(stop)
	wg.Wait()
	mustRelease(t, l, 1)
}

// checkInside runs a critical section that checks the reader/writer
// invariant in shared memory. Writers keep words A and B equal, updating
// them one at a time; readers must never see them differ.
func checkInside(m *sharedMem, write bool, spin int) {
	if write {
		if atomic.AddInt64(m.word(wWriters), 1) != 1 || atomic.LoadInt64(m.word(wReaders)) != 0 {
			atomic.AddInt64(m.word(wViolations), 1)
		}
		atomic.AddInt64(m.word(wA), 1)
		for i := 0; i < spin; i++ {
			runtime.Gosched()
		}
		atomic.AddInt64(m.word(wB), 1)
		atomic.AddInt64(m.word(wWriters), -1)
	} else {
		atomic.AddInt64(m.word(wReaders), 1)
		if atomic.LoadInt64(m.word(wWriters)) != 0 || atomic.LoadInt64(m.word(wA)) != atomic.LoadInt64(m.word(wB)) {
			atomic.AddInt64(m.word(wViolations), 1)
		}
		for i := 0; i < spin; i++ {
			runtime.Gosched()
		}
		atomic.AddInt64(m.word(wReaders), -1)
	}
	atomic.AddInt64(m.word(wOps), 1)
}

// waitHammers waits for n hammer helper processes, each reporting on errs.
func waitHammers(t *testing.T, errs <-chan error, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatalf("hammer helper: %v", err)
			}
		case <-time.After(120 * time.Second):
			t.Fatal("hammer helpers did not finish")
		}
	}
}

// expectNoViolations fails t if a critical section met a conflicting
// holder (checkInside counts them in shared memory).
func expectNoViolations(t testing.TB, m *sharedMem) {
	t.Helper()
	if v := atomic.LoadInt64(m.word(wViolations)); v != 0 {
		t.Fatalf("%d invariant violations", v)
	}
}

func init() {
	// hammer NAME SHAREDPATH GOROUTINES ITERATIONS WRITEPERCENT
	helpers["hammer"] = func(args []string) {
		l, err := Open(args[0], Options{})
		if err != nil {
			panic(err)
		}
		m := mapShared(args[1])
		g, _ := strconv.Atoi(args[2])
		n, _ := strconv.Atoi(args[3])
		wp, _ := strconv.Atoi(args[4])
		hammer(l, m, g, n, wp)
		l.Close()
	}
}

// hammer runs g goroutines doing n critical sections each. Even goroutines
// use Acquire with their thread id; odd ones the RWMutex-style methods.
func hammer(l *Lock, m *sharedMem, g, n, writePct int) {
	var wg sync.WaitGroup
	for k := 0; k < g; k++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			o := gettid()
			seed := uint32(k*7919 + os.Getpid())
			for i := 0; i < n; i++ {
				seed = seed*1664525 + 1013904223
				write := int(seed>>8%100) < writePct
				mode := ModeRead
				if write {
					mode = ModeWrite
				}
				if k%2 == 0 {
					if err := l.Acquire(o, mode, -1); err != nil {
						panic(err)
					}
					checkInside(m, write, int(seed%3))
					if err := l.Release(o); err != nil {
						panic(err)
					}
				} else if write {
					l.Lock()
					checkInside(m, true, int(seed%3))
					l.Unlock()
				} else {
					l.RLock()
					checkInside(m, false, int(seed%3))
					l.RUnlock()
				}
			}
		}(k)
	}
	wg.Wait()
}

func TestHammerProcesses(t *testing.T) {
	l, name := openTest(t, Options{})
	m := newSharedMem(t)
	const procs, gor, iters = 4, 4, 400
	var cmds []*os.Process
	errs := make(chan error, procs)
	for p := 0; p < procs; p++ {
		cmd := helperCmd(t, "hammer", name, m.path, strconv.Itoa(gor), strconv.Itoa(iters), strconv.Itoa(10+20*p))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd.Process)
		go func() { errs <- cmd.Wait() }()
	}
	// This process joins in too.
	hammer(l, m, gor, iters, 30)
	waitHammers(t, errs, len(cmds))
	expectNoViolations(t, m)
	if ops, want := atomic.LoadInt64(m.word(wOps)), int64((procs+1)*gor*iters); ops != want {
		t.Fatalf("ops %d, want %d", ops, want)
	}
	if st, _ := l.Stats(); st.UsedSlots != 0 || st.WriterPID != 0 || st.Readers != 0 {
		t.Fatalf("lock not clean after hammer: %+v", st)
	}
}

// In-process hammer, so that the race detector sees the handle's own data
// structures under contention.
func TestHammerGoroutines(t *testing.T) {
	l, _ := openTest(t, Options{})
	m := newSharedMem(t)
	hammer(l, m, 8, 300, 25)
	expectNoViolations(t, m)
}

// A writer gets in within a bound against a continuous stream of readers
// whose holds overlap, and a reader against continuous writers.
func TestNoStarvation(t *testing.T) {
	for _, tc := range []struct {
		name          string
		stream, probe Mode
	}{{"writer vs readers", ModeRead, ModeWrite}, {"reader vs writers", ModeWrite, ModeRead}} {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := openTest(t, Options{})
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var streamOps atomic.Int64
			for k := 0; k < 4; k++ {
				wg.Add(1)
				go func(o Owner) {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						if err := l.Acquire(o, tc.stream, -1); err != nil {
							t.Error(err)
							return
						}
						streamOps.Add(1)
						time.Sleep(time.Millisecond)
						l.Release(o)
					}
				}(Owner(10 + k))
			}
			waitFor(t, 2*time.Second, "stream running", func() bool { return streamOps.Load() > 20 })
			var worst time.Duration
			for i := 0; i < 10; i++ {
				t0 := time.Now()
				if err := l.Acquire(99, tc.probe, 2*time.Second); err != nil {
					t.Fatalf("probe %d starved: %v", i, err)
				}
				if el := time.Since(t0); el > worst {
					worst = el
				}
				time.Sleep(time.Millisecond)
				mustRelease(t, l, 99)
				time.Sleep(5 * time.Millisecond)
			}
			close(stop)
			wg.Wait()
			t.Logf("worst wait %v over 10 probes, %d stream ops", worst, streamOps.Load())
		})
	}
}

func TestRWMutexMethods(t *testing.T) {
	l, _ := openTest(t, Options{})
	l.RLock()
	l.RLock()
	if l.TryLock() {
		t.Fatal("TryLock under readers")
	}
	if err := l.LockTimeout(20 * time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("LockTimeout: %v", err)
	}
	done := make(chan struct{})
	go func() { l.RUnlock(); close(done) }() // unlock from another goroutine
	<-done
	l.RUnlock()
	if !l.TryLock() {
		t.Fatal("TryLock on a free lock")
	}
	if l.TryRLock() {
		t.Fatal("TryRLock under a writer")
	}
	l.DowngradeLock()
	if !l.TryRLock() {
		t.Fatal("TryRLock after downgrade")
	}
	l.RUnlock()
	l.RUnlock()
	rl := l.RLocker()
	rl.Lock()
	rl.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l.Lock()
	if err := l.RLockContext(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("RLockContext on cancelled ctx: %v", err)
	}
	l.Unlock()
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("RUnlock of an unlocked lock must panic")
			}
		}()
		l.RUnlock()
	}()
	if st, _ := l.Stats(); st.UsedSlots != 0 {
		t.Fatalf("slots left: %+v", st)
	}
}

// Two handles of one process share one view, so self-deadlock is caught
// across handles too.
func TestHandlesShareHolds(t *testing.T) {
	l, name := openTest(t, Options{})
	l2, err := Open(name, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustAcquire(t, l, 1, ModeWrite)
	if err := l2.Acquire(1, ModeRead, -1); !errors.Is(err, ErrDeadlock) {
		t.Fatalf("second handle: %v", err)
	}
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	if l.Held(1) != ModeWrite {
		t.Fatal("closing a second handle dropped the hold")
	}
	mustRelease(t, l, 1)
}
