//go:build prwlock_etcd && linux

package lock

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prwlock/prwlock/internal/etcdtest"
)

// The etcd backend's tests run real etcd servers on loopback (see
// internal/etcdtest): one member for most, three for failover.

func startEtcd(t testing.TB, n int) *etcdtest.Cluster {
	t.Helper()
	c, err := etcdtest.Start(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// openEtcdTest opens url, closed when the test ends.
func openEtcdTest(t testing.TB, url string) *Lock {
	t.Helper()
	l, err := Open(url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func etcdName(t testing.TB) string {
	return strings.NewReplacer("/", "-").Replace(t.Name()) + "-" + strconv.Itoa(int(nameSeq.Add(1)))
}

func init() {
	// etcdhold URL MODE: take the lock, say "held FENCE", then obey stdin:
	// "fence" prints the fence or the error, "release" releases, "lost"
	// says whether Lost's channel is closed.
	helpers["etcdhold"] = func(args []string) {
		runtime.LockOSThread()
		l, err := Open(args[0], Options{})
		if err != nil {
			fmt.Println("error", err)
			return
		}
		o := gettid()
		if err := l.Acquire(o, parseMode(args[1]), -1); err != nil && err != ErrOwnerDead {
			fmt.Println("error", err)
			return
		}
		f, _ := l.Fence(o)
		lost := l.Lost(o)
		fmt.Println("held", f)
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			switch sc.Text() {
			case "fence":
				f, err := l.Fence(o)
				fmt.Println("fence", f, errnoName(err))
			case "lost":
				select {
				case <-lost:
					fmt.Println("lost yes")
				default:
					fmt.Println("lost no")
				}
			case "release":
				fmt.Println("release", errnoName(l.Release(o)))
			case "close":
				fmt.Println("close", errnoName(l.Close()))
			}
		}
	}
	// etcdhammer URL SHM SECONDS: threads read and write at random,
	// checking the invariant in shared memory inside each critical section.
	helpers["etcdhammer"] = func(args []string) {
		l, err := Open(args[0], Options{})
		if err != nil {
			panic(err)
		}
		m := mapShared(args[1])
		secs, _ := strconv.Atoi(args[2])
		etcdHammer(l, m, time.Duration(secs)*time.Second, 3)
	}
}

func errnoName(err error) string {
	if err == nil {
		return "ok"
	}
	return Errno(err).Error()
}

// etcdHammer runs threads that take the lock at random until d passes,
// checking inside every critical section that no writer overlaps anyone.
func etcdHammer(l *Lock, m *sharedMem, d time.Duration, threads int) {
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	for k := 0; k < threads; k++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			o := gettid()
			for i := 0; time.Now().Before(end); i++ {
				write := (i+k)%3 == 0
				mode := ModeRead
				if write {
					mode = ModeWrite
				}
				if err := l.Acquire(o, mode, 10*time.Second); err != nil && err != ErrOwnerDead {
					atomic.AddInt64(m.word(wFlag), 1) // failed acquires
					continue
				}
				if write {
					if atomic.AddInt64(m.word(wWriters), 1) != 1 || atomic.LoadInt64(m.word(wReaders)) != 0 {
						atomic.AddInt64(m.word(wViolations), 1)
					}
					a := atomic.LoadInt64(m.word(wA))
					atomic.StoreInt64(m.word(wA), a+1)
					time.Sleep(time.Millisecond)
					atomic.StoreInt64(m.word(wB), a+1)
					atomic.AddInt64(m.word(wWriters), -1)
				} else {
					atomic.AddInt64(m.word(wReaders), 1)
					if atomic.LoadInt64(m.word(wWriters)) != 0 || atomic.LoadInt64(m.word(wA)) != atomic.LoadInt64(m.word(wB)) {
						atomic.AddInt64(m.word(wViolations), 1)
					}
					time.Sleep(time.Millisecond)
					atomic.AddInt64(m.word(wReaders), -1)
				}
				if _, err := l.Fence(o); err != nil {
					atomic.AddInt64(m.word(wFlag), 1)
				}
				if err := l.Release(o); err != nil {
					atomic.AddInt64(m.word(wFlag), 1)
				}
				atomic.AddInt64(m.word(wOps), 1)
			}
		}(k)
	}
	wg.Wait()
}

func TestEtcdURL(t *testing.T) {
	good := map[string]string{
		"etcd://h:2379/jobs":                       "etcd://h:2379/jobs",
		"etcd://h/jobs":                            "etcd://h:2379/jobs",
		"etcd://h1:1,h2:2/a%2Fb?ttl=3":             "etcd://h1:1,h2:2/a%2Fb?ttl=3",
		"etcd://u:p@h:1/x":                         "etcd://u:p@h:1/x",
		"etcds://h:1/x?cacert=/ca.pem":             "etcds://h:1/x?cacert=%2Fca.pem",
		"etcd://[::1]:5/x?timeout=2s":              "etcd://[::1]:5/x?timeout=2s",
		"etcds://h:1/x?cert=/c.pem&key=/k.pem":     "etcds://h:1/x?cert=%2Fc.pem&key=%2Fk.pem",
		"etcd://h:1/x?ttl=10&timeout=5s":           "etcd://h:1/x",
		"etcd://h:1/with space?ttl=1":              "etcd://h:1/with%20space?ttl=1",
		"etcd://h:1/a/b":                           "etcd://h:1/a%2Fb",
		"etcd://h:1/jobs?ttl=60&timeout=1500ms":    "etcd://h:1/jobs?timeout=1.5s&ttl=60",
		"etcds://u@h:1/x?cacert=ca&cert=c&key=k":   "etcds://u@h:1/x?cacert=ca&cert=c&key=k",
		"etcd://h:1,h:2,h:3/x":                     "etcd://h:1,h:2,h:3/x",
		"etcd://h:1/x?ttl=1":                       "etcd://h:1/x?ttl=1",
		"etcds://h:1/x":                            "etcds://h:1/x",
		"etcd://h:1/%E2%9C%93":                     "etcd://h:1/%E2%9C%93",
		"etcd://h:1/x?timeout=1m":                  "etcd://h:1/x?timeout=1m0s",
		"etcd://h:65535/x":                         "etcd://h:65535/x",
		"etcd://user%40corp:p%3Aw@h:1/x":           "etcd://user@corp:p:w@h:1/x",
		"etcd://127.0.0.1:2379,127.0.0.2:2379/lck": "etcd://127.0.0.1:2379,127.0.0.2:2379/lck",
	}
	for in, want := range good {
		c, err := parseEtcdURL(in)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if got := c.String(); got != want {
			t.Errorf("%s: canonical %s, want %s", in, got, want)
		}
		if again, err := parseEtcdURL(c.String()); err != nil || again.String() != c.String() {
			t.Errorf("%s: canonical form does not parse back: %v", in, err)
		}
	}
	for _, in := range []string{"etcd://", "etcd://h:1", "etcd://h:1/", "etcd://:1/x", "etcd://h:0/x",
		"etcd://h:99999/x", "etcd://h:1,/x", "etcd://h:1/x?ttl=0", "etcd://h:1/x?ttl=a", "etcd://h:1/x?bogus=1",
		"etcd://h:1/x?timeout=-1s", "etcd://h:1/x?cacert=a", "etcds://h:1/x?cert=c", "etcd://h:1/x?ttl=1&ttl=2",
		"etcd://h:1/x\x00", "etcd://h:1/%zz", "http://h:1/x", "etcd://@h:1/x"} {
		if _, err := parseEtcdURL(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v, want ErrInvalid", in, err)
		}
	}
	if got := redactURL("etcd://u:secret@h:1/x"); strings.Contains(got, "secret") {
		t.Errorf("redactURL kept the password: %s", got)
	}
	// Bad URLs fail at Open with EINVAL, before any connection.
	if _, err := Open("etcd://h:1/", Options{}); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("Open of a URL without a name: %v", err)
	}
}

func TestEtcdUnreachable(t *testing.T) {
	start := time.Now()
	_, err := Open("etcd://127.0.0.1:1/x?timeout=500ms", Options{})
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("open of an unreachable server: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("gave up after %v", d)
	}
}

func TestEtcdBasics(t *testing.T) {
	c := startEtcd(t, 1)
	url := c.URL(etcdName(t))
	l := openEtcdTest(t, url)
	l2 := openEtcdTest(t, url) // another handle of this process: same holds
	if !l.Remote() || l.Anonymous() || l.Path() != url || l.Token() != url || l.Capacity() != 0 {
		t.Fatalf("remote %v anonymous %v path %q token %q", l.Remote(), l.Anonymous(), l.Path(), l.Token())
	}
	const a, b = Owner(101), Owner(102)
	// Write excludes everyone; EDEADLK on self; try and timeout for others.
	if err := l.Acquire(a, ModeWrite, -1); err != nil {
		t.Fatal(err)
	}
	f1, err := l.Fence(a)
	if err != nil || f1 == 0 {
		t.Fatalf("fence %d %v", f1, err)
	}
	if err := l2.Acquire(a, ModeRead, 0); err != ErrDeadlock {
		t.Fatalf("read while holding write: %v", err)
	}
	if err := l.Acquire(b, ModeRead, 0); err != ErrBusy {
		t.Fatalf("try read under a writer: %v", err)
	}
	t0 := time.Now()
	if err := l.Acquire(b, ModeWrite, 300*time.Millisecond); err != ErrTimeout {
		t.Fatalf("timed write under a writer: %v", err)
	}
	if d := time.Since(t0); d < 300*time.Millisecond || d > 3*time.Second {
		t.Errorf("300 ms timeout took %v", d)
	}
	if l.Held(a) != ModeWrite || l.Held(b) != ModeNone {
		t.Fatalf("held: %v %v", l.Held(a), l.Held(b))
	}
	st, err := l.Stats()
	if err != nil || !st.WriterActive || st.Readers != 0 || st.Attached != 1 || st.OwnerDead {
		t.Fatalf("stats %+v %v", st, err)
	}
	hs, err := l.Holders()
	host, _ := os.Hostname()
	if err != nil || len(hs) != 1 || hs[0].Mode != ModeWrite || hs[0].PID != uint32(os.Getpid()) || hs[0].TID != uint32(a) ||
		hs[0].Host != host || hs[0].Fence != f1 || hs[0].Waiting || hs[0].Since == 0 {
		t.Fatalf("holders %+v %v", hs, err)
	}
	// Downgrade admits a queued reader, keeps the fence.
	got := make(chan error, 1)
	go func() { got <- l.Acquire(b, ModeRead, 5*time.Second) }()
	waitFor(t, 5*time.Second, "queued reader", func() bool { s, _ := l.Stats(); return s.WaitingReaders == 1 })
	if err := l.Downgrade(a); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("reader after downgrade: %v", err)
	}
	if f, err := l.Fence(a); err != nil || f != f1 {
		t.Fatalf("fence after downgrade %d %v, want %d", f, err, f1)
	}
	if err := l.Downgrade(a); err != ErrNotHeld {
		t.Fatalf("downgrade of a read hold: %v", err)
	}
	// Recursive read, released level by level.
	if err := l.Acquire(b, ModeRead, 0); err != nil {
		t.Fatal(err)
	}
	for _, o := range []Owner{b, b, a} {
		if err := l.Release(o); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Release(a); err != ErrNotHeld {
		t.Fatalf("release without a hold: %v", err)
	}
	if _, err := l.Fence(a); err != ErrNotHeld {
		t.Fatalf("fence without a hold: %v", err)
	}
	// Fences grow with every later conflicting hold.
	if err := l.Acquire(b, ModeWrite, 0); err != nil {
		t.Fatal(err)
	}
	if f2, _ := l.Fence(b); f2 <= f1 {
		t.Fatalf("later fence %d not above %d", f2, f1)
	}
	if err := l.Release(b); err != nil {
		t.Fatal(err)
	}
	// The token opens the same lock.
	l3, err := OpenToken(l.Token())
	if err != nil {
		t.Fatal(err)
	}
	defer l3.Close()
	if err := l3.Acquire(a, ModeWrite, 0); err != nil {
		t.Fatal(err)
	}
	if err := l.Acquire(a, ModeWrite, 0); err != ErrDeadlock {
		t.Fatalf("the token's handle shares this process's holds: %v", err)
	}
	l3.Release(a)
	// A local lock has no fence.
	local, _ := openTest(t, Options{})
	local.Acquire(a, ModeRead, 0)
	if _, err := local.Fence(a); err != ErrNoFence || Errno(err) != syscall.ENOTSUP {
		t.Fatalf("local fence: %v", err)
	}
	local.Release(a)
}

// The sync.RWMutex-style methods work on a remote lock too.
func TestEtcdRWMutexShape(t *testing.T) {
	c := startEtcd(t, 1)
	l := openEtcdTest(t, c.URL(etcdName(t)))
	l.Lock()
	if l.TryRLock() {
		t.Fatal("TryRLock under Lock")
	}
	l.DowngradeLock()
	l.RLock()
	l.RUnlock()
	l.RUnlock()
	if _, err := l.LockFence(); err != ErrNotHeld {
		t.Fatalf("LockFence without Lock: %v", err)
	}
	if !l.TryLock() {
		t.Fatal("TryLock on a free lock")
	}
	if f, err := l.LockFence(); err != nil || f == 0 || l.LockLost() == nil {
		t.Fatalf("LockFence %d %v", f, err)
	}
	l.Unlock()
}

// FIFO: a queued writer stops later readers; readers queued before it go
// first; writers are served in queue order.
func TestEtcdFairness(t *testing.T) {
	c := startEtcd(t, 1)
	l := openEtcdTest(t, c.URL(etcdName(t)))
	if err := l.Acquire(1, ModeRead, 0); err != nil {
		t.Fatal(err)
	}
	var order []int
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := func(o Owner, m Mode, tag int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.Acquire(o, m, 10*time.Second); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, tag)
			mu.Unlock()
			time.Sleep(50 * time.Millisecond)
			l.Release(o)
		}()
	}
	queued := func(n int) {
		waitFor(t, 5*time.Second, "queue", func() bool { s, _ := l.Stats(); return s.UsedSlots == n })
	}
	start(2, ModeWrite, 2) // waits for reader 1
	queued(2)
	if err := l.Acquire(3, ModeRead, 0); err != ErrBusy {
		t.Fatalf("a new reader passed a queued writer: %v", err)
	}
	start(4, ModeRead, 4) // after writer 2
	queued(3)
	start(5, ModeWrite, 5)
	queued(4)
	start(6, ModeRead, 6)
	queued(5)
	l.Release(1)
	wg.Wait()
	if fmt.Sprint(order) != "[2 4 5 6]" {
		t.Fatalf("grant order %v, want [2 4 5 6]", order)
	}
}

// Slices keep the wait queued; Cancel withdraws it.
func TestEtcdSlices(t *testing.T) {
	c := startEtcd(t, 1)
	l := openEtcdTest(t, c.URL(etcdName(t)))
	if err := l.Acquire(1, ModeRead, 0); err != nil {
		t.Fatal(err)
	}
	dl := MonotonicNow() + int64(10*time.Second)
	if err := l.AcquireSlice(2, ModeWrite, dl, MonotonicNow()+int64(100*time.Millisecond)); err != ErrSliceEnded {
		t.Fatalf("slice: %v", err)
	}
	// Still queued: it stops new readers.
	if err := l.Acquire(3, ModeRead, 0); err != ErrBusy {
		t.Fatalf("reader passed a writer queued by a slice: %v", err)
	}
	l.Release(1)
	for {
		err := l.AcquireSlice(2, ModeWrite, dl, MonotonicNow()+int64(100*time.Millisecond))
		if err == nil {
			break
		}
		if err != ErrSliceEnded {
			t.Fatal(err)
		}
	}
	if l.Held(2) != ModeWrite {
		t.Fatal("not held after the slices")
	}
	if err := l.AcquireSlice(3, ModeRead, dl, MonotonicNow()+int64(100*time.Millisecond)); err != ErrSliceEnded {
		t.Fatal(err)
	}
	if err := l.Cancel(3); err != nil {
		t.Fatal(err)
	}
	if s, _ := l.Stats(); s.UsedSlots != 1 {
		t.Fatalf("cancelled wait left an entry: %+v", s)
	}
	l.Release(2)
}

// Processes on one etcd exclude each other: an invariant checked inside
// every critical section of 3 processes x 3 threads.
func TestEtcdExclusionAcrossProcesses(t *testing.T) {
	c := startEtcd(t, 1)
	url := c.URL(etcdName(t))
	m := newSharedMem(t)
	var cmds []*os.Process
	for i := 0; i < 3; i++ {
		cmd := helperCmd(t, "etcdhammer", url, m.path, "3")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd.Process)
	}
	for _, p := range cmds {
		st, _ := p.Wait()
		if !st.Success() {
			t.Fatalf("hammer process: %v", st)
		}
	}
	ops, viol, fails := *m.word(wOps), *m.word(wViolations), *m.word(wFlag)
	t.Logf("%d critical sections, %d violations, %d failed calls", ops, viol, fails)
	// Failed calls: acquires that timed out on a loaded machine (etcd fsyncs
	// every write); tolerated if rare.
	if viol != 0 || fails > max(2, ops/20) || ops < 50 {
		t.Fatalf("%d violations, %d failed calls, %d sections", viol, fails, ops)
	}
}

// A SIGKILLed holder is replaced within its TTL; a dead writer makes the
// next grants report ErrOwnerDead until a told writer releases.
func TestEtcdKilledHolder(t *testing.T) {
	c := startEtcd(t, 1)
	for _, mode := range []string{"read", "write"} {
		t.Run(mode, func(t *testing.T) {
			name := etcdName(t)
			l := openEtcdTest(t, c.URL(name))
			cmd, _, out := startIO(t, "etcdhold", c.URL(name, "ttl=2"), mode)
			out.expect(t, "held", 10*time.Second)
			killHelper(t, cmd.Process)
			t0 := time.Now()
			err := l.Acquire(1, ModeWrite, 15*time.Second)
			d := time.Since(t0)
			t.Logf("granted %v after the kill: %v", d, err)
			if d > 2*time.Second+2*time.Second {
				t.Errorf("recovery took %v with a 2 s TTL", d)
			}
			if mode == "read" {
				if err != nil {
					t.Fatalf("after a dead reader: %v", err)
				}
				l.Release(1)
				return
			}
			if err != ErrOwnerDead {
				t.Fatalf("after a dead writer: %v", err)
			}
			if !l.OwnerDied() {
				t.Fatal("OwnerDied false")
			}
			if s, _ := l.Stats(); !s.OwnerDead || s.OwnerDeaths != 1 {
				t.Fatalf("stats %+v", s)
			}
			// Not told (ReleaseUnrepaired): the mark stays.
			l.ReleaseUnrepaired(1)
			if err := l.Acquire(2, ModeRead, time.Second); err != ErrOwnerDead {
				t.Fatalf("reader after unrepaired release: %v", err)
			}
			l.Release(2)
			if err := l.Acquire(1, ModeWrite, time.Second); err != ErrOwnerDead {
				t.Fatal(err)
			}
			l.Release(1) // repaired
			if err := l.Acquire(2, ModeRead, time.Second); err != nil {
				t.Fatalf("after repair: %v", err)
			}
			l.Release(2)
			if l.OwnerDied() {
				t.Fatal("still owner-dead after repair")
			}
		})
	}
}

// A holder stopped past its TTL loses the lock to others; when it runs
// again it learns so (ErrLost, Lost's channel), and its fence is below
// the new holder's.
func TestEtcdStoppedHolder(t *testing.T) {
	c := startEtcd(t, 1)
	// The holder's session has a short TTL; ours a longer one, which a
	// busy machine (-race) cannot starve.
	name := etcdName(t)
	l := openEtcdTest(t, c.URL(name, "ttl=5"))
	cmd, in, out := startIO(t, "etcdhold", c.URL(name, "ttl=1"), "write")
	var oldFence uint64
	fmt.Sscanf(out.expect(t, "held", 10*time.Second), "held %d", &oldFence)
	cmd.Process.Signal(syscall.SIGSTOP)
	defer cmd.Process.Signal(syscall.SIGCONT)
	if err := l.Acquire(1, ModeWrite, 10*time.Second); err != ErrOwnerDead {
		t.Fatalf("acquire against a stopped holder: %v", err)
	}
	newFence, _ := l.Fence(1)
	if newFence <= oldFence {
		t.Fatalf("new fence %d not above the stopped holder's %d", newFence, oldFence)
	}
	cmd.Process.Signal(syscall.SIGCONT)
	fmt.Fprintln(in, "fence")
	if s := out.expect(t, "fence", 5*time.Second); !strings.HasSuffix(s, syscall.ENOTRECOVERABLE.Error()) {
		t.Fatalf("the woken holder says %q, want ENOTRECOVERABLE", s)
	}
	fmt.Fprintln(in, "lost")
	out.expect(t, "lost yes", 5*time.Second)
	fmt.Fprintln(in, "release")
	if s := out.expect(t, "release", 5*time.Second); !strings.HasSuffix(s, syscall.EPERM.Error()) {
		t.Fatalf("release after the loss was reported: %q", s) // the hold is forgotten once reported
	}
	l.Release(1)
}

// A lost hold is reported by the next call on it, whichever it is.
func TestEtcdLostReportedOnce(t *testing.T) {
	c := startEtcd(t, 1)
	url := c.URL(etcdName(t))
	l := openEtcdTest(t, url)
	if err := l.Acquire(1, ModeWrite, 0); err != nil {
		t.Fatal(err)
	}
	lost := l.Lost(1)
	// Make the server drop the lease, as an expiry would.
	h := l.remote.(*etcdHandle)
	h.e.mu.Lock()
	lease := h.e.sess.lease
	h.e.mu.Unlock()
	if _, err := h.e.cli.Revoke(t.Context(), lease); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("Lost channel not closed after the lease was revoked")
	}
	if err := l.Release(1); !errors.Is(err, ErrLost) {
		t.Fatalf("release of a lost hold: %v", err)
	}
	if err := l.Release(1); err != ErrNotHeld {
		t.Fatalf("second release: %v", err)
	}
	// A new session serves the next acquire, and the lost writer counts
	// as dead.
	if err := l.Acquire(1, ModeWrite, 5*time.Second); err != ErrOwnerDead {
		t.Fatalf("acquire after the loss: %v", err)
	}
	l.Release(1)
}

// Closing a process's last handle ends its holds at once: reads quietly,
// writes as if the writer died.
func TestEtcdCloseReleases(t *testing.T) {
	c := startEtcd(t, 1)
	for _, mode := range []string{"read", "write"} {
		t.Run(mode, func(t *testing.T) {
			url := c.URL(etcdName(t)) // default TTL: recovery here is by Close, not expiry
			l := openEtcdTest(t, url)
			_, in, out := startIO(t, "etcdhold", url, mode)
			out.expect(t, "held", 10*time.Second)
			fmt.Fprintln(in, "close")
			out.expect(t, "close ok", 10*time.Second)
			err := l.Acquire(1, ModeWrite, 3*time.Second)
			if mode == "read" && err != nil || mode == "write" && err != ErrOwnerDead {
				t.Fatalf("after close of a %s holder: %v", mode, err)
			}
			l.Release(1)
		})
	}
}

func TestEtcdUnlink(t *testing.T) {
	c := startEtcd(t, 1)
	url := c.URL(etcdName(t))
	l := openEtcdTest(t, url)
	if err := Unlink(url); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("unlink of a lock without state: %v", err)
	}
	l.Acquire(1, ModeWrite, 0)
	if err := Unlink(url); !errors.Is(err, ErrBusy) {
		t.Fatalf("unlink of a held lock: %v", err)
	}
	l.Abandon(1) // as if it died: owner-dead
	if !l.OwnerDied() {
		t.Fatal("abandoned writer not owner-dead")
	}
	if err := Unlink(url); err != nil {
		t.Fatal(err)
	}
	if l.OwnerDied() {
		t.Fatal("owner-dead after unlink")
	}
}

// Failover: a hold survives the restart of one member of three (the
// leader), because its lease does. (The TTL must outlast an election plus
// a keep-alive interval, a third of the TTL: a holder that cannot renew in
// time takes its hold for lost, to be safe.)
func TestEtcdMemberRestart(t *testing.T) {
	c := startEtcd(t, 3)
	url := c.URL(etcdName(t), "ttl=4")
	l := openEtcdTest(t, url)
	if err := l.Acquire(1, ModeWrite, 0); err != nil {
		t.Fatal(err)
	}
	f, _ := l.Fence(1)
	lost := l.Lost(1)
	leader := c.Leader()
	if leader < 0 {
		t.Fatal("no leader")
	}
	c.Stop(leader, syscall.SIGKILL)
	time.Sleep(5 * time.Second) // past the TTL: the lease must have been renewed
	if err := l.Acquire(2, ModeRead, 0); err != ErrBusy {
		t.Fatalf("reader while the writer holds, one member down: %v", err)
	}
	if err := c.Restart(leader); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitReady(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lost:
		t.Fatal("hold lost across a member restart")
	default:
	}
	if g, err := l.Fence(1); err != nil || g != f {
		t.Fatalf("fence after the restart: %d %v, want %d", g, err, f)
	}
	if err := l.Release(1); err != nil {
		t.Fatalf("release after the restart: %v", err)
	}
	if err := l.Acquire(2, ModeWrite, 5*time.Second); err != nil {
		t.Fatalf("acquire after the restart: %v", err)
	}
	l.Release(2)
}

// Without quorum nothing is granted: acquires fail with ErrUnavailable,
// and a holder learns within its TTL that it can no longer count on its
// hold. Once quorum is back, the lock works again and reports the
// unrenewed writer as dead.
func TestEtcdQuorumLoss(t *testing.T) {
	c := startEtcd(t, 3)
	url := c.URL(etcdName(t), "ttl=2", "timeout=1s")
	l := openEtcdTest(t, url)
	if err := l.Acquire(1, ModeWrite, 0); err != nil {
		t.Fatal(err)
	}
	lost := l.Lost(1)
	c.Stop(1, syscall.SIGKILL)
	c.Stop(2, syscall.SIGKILL)
	t0 := time.Now()
	toldAfter := make(chan time.Duration, 1)
	go func() { <-lost; toldAfter <- time.Since(t0) }()
	for _, m := range []Mode{ModeRead, ModeWrite} {
		err := l.Acquire(2, m, 2*time.Second)
		if !errors.Is(err, ErrUnavailable) || Errno(err) != syscall.ENOTCONN {
			t.Fatalf("%v acquire without quorum: %v", m, err)
		}
	}
	if _, err := l.Stats(); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("stats without quorum: %v", err)
	}
	select {
	case d := <-toldAfter:
		t.Logf("holder told %v after quorum loss", d)
		if d > 3*time.Second { // TTL 2 s, plus scheduling on a busy machine
			t.Errorf("holder told only %v after quorum loss, TTL 2 s", d)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("holder not told within its TTL that its lease is unrenewed")
	}
	if _, err := l.Fence(1); !errors.Is(err, ErrLost) {
		t.Fatalf("fence of the unrenewed hold: %v", err)
	}
	for _, i := range []int{1, 2} {
		if err := c.Restart(i); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.WaitReady(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := l.Acquire(2, ModeWrite, 15*time.Second); err != ErrOwnerDead {
		t.Fatalf("acquire once quorum is back: %v", err)
	}
	l.Release(2)
}

// Closing the last handle makes this process's waiters return EBADF at
// once, as for a local lock.
func TestEtcdCloseWakesWaiters(t *testing.T) {
	c := startEtcd(t, 1)
	url := c.URL(etcdName(t))
	other := openEtcdTest(t, url+"?ttl=9") // another session holds the lock
	if err := other.Acquire(1, ModeWrite, 0); err != nil {
		t.Fatal(err)
	}
	l, err := Open(url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() { got <- l.Acquire(2, ModeRead, 30*time.Second) }()
	waitFor(t, 5*time.Second, "queued reader", func() bool { s, _ := other.Stats(); return s.WaitingReaders == 1 })
	t0 := time.Now()
	l.Close()
	select {
	case err := <-got:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("waiter after close: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("waiter still blocked 3 s after close")
	}
	t.Logf("waiter returned %v after close", time.Since(t0))
	if s, _ := other.Stats(); s.WaitingReaders != 0 {
		t.Fatalf("the closed handle's wait stayed queued: %+v", s)
	}
	other.Release(1)
}
