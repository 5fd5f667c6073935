//go:build linux

package lock

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Tests of who counts as dead, alive or merely stopped (layout.go,
// "Liveness"), and of what an owner may still do to its slot.

// recoverByHand does to slot i what another process's recovery does,
// as if it had judged our process dead.
func recoverByHand(s *segment, i int) {
	own := atomic.LoadUint64(s.owner(i))
	atomic.CompareAndSwapUint64(s.owner(i), own, markerKey(ident{pid: 4000010, pstart: 1, pidns: s.me.pidns}))
	c := atomic.LoadUint64(s.ctl(i))
	s.clearWriter(i, ctlState(c) == slotWrite, false)
	atomic.StoreUint64(s.ctl(i), makeCtl(ctlGen(c), slotFree))
	atomic.AndUint64(s.bitmapWord(i/64), ^uint64(1<<(i%64)))
	atomic.StoreUint64(s.owner(i), 0)
}

// A release whose hold was recovered by another process reports ErrLost and
// leaves alone the slot and writer field that someone else owns now.
func TestReleaseAfterRecoveryIsLost(t *testing.T) {
	l, _ := openTest(t, Options{})
	s := l.seg
	const a = Owner(1)
	b := a + 1
	for claimStart(b) != claimStart(a) { // starts its slot search where a does: gets a's old slot
		b++
	}
	for _, m := range []Mode{ModeWrite, ModeRead} {
		l.Abandon(a) // both claim afresh, not the slots they kept idle
		l.Abandon(b)
		mustAcquire(t, l, a, m)
		i := int(s.rec(a).slot)
		recoverByHand(s, i)
		if m == ModeWrite {
			// Our forged death of a writer marked the lock; a told
			// writer's release clears the mark again.
			if err := l.Acquire(b, ModeWrite, -1); err != ErrOwnerDead {
				t.Fatalf("after a recovered writer: %v", err)
			}
			mustRelease(t, l, b)
		}
		mustAcquire(t, l, b, ModeWrite)
		if got := int(s.rec(b).slot); got != i {
			t.Fatalf("%v: b got slot %d, want a's old slot %d", m, got, i)
		}
		if err := l.Release(a); !errors.Is(err, ErrLost) || !errors.Is(err, syscall.ENOTRECOVERABLE) {
			t.Fatalf("%v: release of a recovered hold: %v, want ErrLost", m, err)
		}
		if st := atomic.LoadUint32(s.state()); writerOf(st) != i || s.slotState(i) != slotWrite {
			t.Fatalf("%v: b's write hold was disturbed: state %#x, slot %d", m, st, s.slotState(i))
		}
		if l.Held(a) != ModeNone {
			t.Fatalf("%v: a still holds after ErrLost", m)
		}
		if err := l.Acquire(a, ModeRead, 0); !errors.Is(err, ErrBusy) {
			t.Fatalf("%v: a read beside b's write: %v", m, err)
		}
		mustRelease(t, l, b)
		if err := l.Acquire(a, ModeRead, 0); err != nil && !errors.Is(err, ErrOwnerDead) {
			t.Fatalf("%v: a after b: %v", m, err)
		}
		l.Release(a)
	}
}

// A recovery marker or an unpublished claim from another PID namespace is
// never taken for dead, though its pid does not exist here.
func TestOtherNamespaceKeysNotJudged(t *testing.T) {
	l, _ := openTest(t, Options{})
	s := l.seg
	me := self()
	foreign := ident{pid: 4000002, pstart: 1, pidns: me.pidns + 1}
	i := forgeWriter(t, l, ident{pid: 4000001, pstart: 1, pidns: me.pidns})
	atomic.StoreUint64(s.owner(i), markerKey(foreign)) // recovery in progress there
	if err := l.Acquire(1, ModeWrite, 60*time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("a foreign recoverer's marker was taken over: %v", err)
	}
	// An unpublished claim (bitmap bit clear) from there.
	j := 9
	atomic.StoreUint64(s.owner(j), processKey(foreign))
	if n, _ := l.Recover(); n != 0 || atomic.LoadUint64(s.owner(j)) != processKey(foreign) {
		t.Fatalf("a foreign claim in progress was recovered (%d)", n)
	}
	// The same from our namespace is dead and taken over.
	local := ident{pid: 4000002, pstart: 1, pidns: me.pidns}
	atomic.StoreUint64(s.owner(i), markerKey(local))
	atomic.StoreUint64(s.owner(j), processKey(local))
	if err := l.Acquire(1, ModeWrite, time.Second); !errors.Is(err, ErrOwnerDead) {
		t.Fatalf("a dead local recoverer's slot: %v", err)
	}
	mustRelease(t, l, 1)
	l.Recover()
	if atomic.LoadUint64(s.owner(j)) != 0 {
		t.Fatal("a dead local claim in progress was not recovered")
	}
	atomic.StoreUint64(s.owner(j), 0)
}

// A key names one process incarnation: the same pid with another start
// time is a different, dead, process.
func TestKeysTellIncarnationsApart(t *testing.T) {
	me := self()
	if !keyAlive(processKey(me), me, 0, 0) {
		t.Fatal("our own key judged dead")
	}
	if keyAlive(processKey(ident{pid: me.pid, pstart: me.pstart + 1, pidns: me.pidns}), me, 0, 0) {
		t.Fatal("an earlier incarnation of our pid judged alive")
	}
	if processKey(ident{pid: 7, pstart: 100, pidns: 5}) == processKey(ident{pid: 7, pstart: 101, pidns: 5}) {
		t.Fatal("keys of two incarnations of pid 7 are equal")
	}
	if !sameNamespace(processKey(me), me.pidns) || sameNamespace(processKey(me), me.pidns+1) {
		t.Fatal("namespace tag")
	}
}

// everyMillisecond runs f every millisecond in a goroutine until the
// returned stop function is called; stop returns once f has run for the
// last time (the test's cleanup may close what f uses).
func everyMillisecond(f func()) (stop func()) {
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
				f()
			}
		}
	}()
	return func() { close(done); <-exited }
}

// Wake-ups by other threads must not postpone the dead-holder check
// (case A: a dead reader, with a TryRLock loop waking the pending writer).
func TestRecoveryDespiteWakeupsDeadReader(t *testing.T) {
	l, name := openTest(t, Options{})
	cmd, out := startHelper(t, "hold", name, "read")
	out.expect(t, "held", 10*time.Second)
	cmd.Process.Kill()
	cmd.Wait()
	defer everyMillisecond(func() {
		if l.TryRLock() {
			l.RUnlock()
		}
	})()
	t0 := time.Now()
	if err := l.Acquire(1, ModeWrite, 3*time.Second); err != nil {
		t.Fatalf("pending writer behind a dead reader, woken every ms: %v after %v", err, time.Since(t0))
	}
	t.Logf("recovered in %v", time.Since(t0))
	if d := time.Since(t0); d > time.Second {
		t.Fatalf("recovery took %v", d)
	}
	mustRelease(t, l, 1)
}

// Case B: a dead oldest waiting writer, with a TryLock loop waking the
// writers that defer to it.
func TestRecoveryDespiteWakeupsDeadOldestWriter(t *testing.T) {
	l, _ := openTest(t, Options{})
	s := l.seg
	i := forgeWriter(t, l, ident{pid: 4000003, pstart: 1, pidns: self().pidns})
	atomic.StoreUint32(s.state(), 0) // it waits; it does not own the field
	atomic.StoreUint64(s.ctl(i), makeCtl(1, slotWaitWrite))
	atomic.StoreInt64(s.since(i), MonotonicNow()-int64(time.Second))
	defer everyMillisecond(func() {
		if l.TryLock() {
			l.Unlock()
		}
	})()
	t0 := time.Now()
	if err := l.Acquire(1, ModeWrite, 3*time.Second); err != nil {
		t.Fatalf("writer behind a dead oldest writer, woken every ms: %v after %v", err, time.Since(t0))
	}
	if d := time.Since(t0); d > time.Second {
		t.Fatalf("recovery took %v", d)
	}
	mustRelease(t, l, 1)
}

// stopHelper SIGSTOPs a helper and makes sure it is SIGCONTed and gone
// when the test ends.
func stopHelper(t *testing.T, p *os.Process) {
	t.Helper()
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "helper stopped", func() bool { return stopped(uint32(p.Pid), 0) })
	t.Cleanup(func() { p.Signal(syscall.SIGCONT) })
}

// A stopped process that only waits for write does not hold the others up
// as the oldest waiter while the lock is free.
func TestStoppedWaitingWriterLosesPlace(t *testing.T) {
	l, name := openTest(t, Options{})
	mustAcquire(t, l, 1, ModeWrite)
	cmd, out := startHelper(t, "wait", name, "write")
	out.expect(t, "waiting", 10*time.Second)
	waitFor(t, 5*time.Second, "writer queued", func() bool { st, _ := l.Stats(); return st.WaitingWriters == 1 })
	time.Sleep(20 * time.Millisecond) // older than overtakeNs: others defer to it
	stopHelper(t, cmd.Process)
	mustRelease(t, l, 1)
	t0 := time.Now()
	if err := l.Acquire(2, ModeWrite, 3*time.Second); err != nil {
		t.Fatalf("writer behind a stopped waiting writer: %v", err)
	}
	d := time.Since(t0)
	t.Logf("got the free lock past a stopped waiter in %v", d)
	if d > time.Second {
		t.Fatalf("took %v (aim: about a poll interval)", d)
	}
	mustRelease(t, l, 2)
	cmd.Process.Signal(syscall.SIGCONT)
	if got := out.expect(t, "got", 5*time.Second); got != "got <nil>" {
		t.Fatalf("the stopped writer, continued: %q", got)
	}
	killHelper(t, cmd.Process)
}

// A stopped process that waited for read and was granted it by a
// releasing writer has the grant revoked, so writers are not held up; when
// it runs again it waits, and gets read in the next read phase.
func TestStoppedGrantedReaderRevoked(t *testing.T) {
	l, name := openTest(t, Options{})
	mustAcquire(t, l, 1, ModeWrite)
	cmd, out := startHelper(t, "wait", name, "read")
	out.expect(t, "waiting", 10*time.Second)
	waitFor(t, 5*time.Second, "reader queued", func() bool { st, _ := l.Stats(); return st.WaitingReaders == 1 })
	stopHelper(t, cmd.Process)
	mustRelease(t, l, 1) // grants read to the stopped reader
	t0 := time.Now()
	if err := l.Acquire(2, ModeWrite, 3*time.Second); err != nil {
		t.Fatalf("writer behind a stopped granted reader: %v", err)
	}
	d := time.Since(t0)
	t.Logf("revoked the stopped reader's grant in %v", d)
	if d > time.Second {
		t.Fatalf("took %v (aim: about a poll interval)", d)
	}
	cmd.Process.Signal(syscall.SIGCONT)
	time.Sleep(20 * time.Millisecond)
	if st, _ := l.Stats(); st.Readers != 0 || st.WaitingReaders != 1 {
		t.Fatalf("the continued reader got in beside the writer: %+v", st)
	}
	mustRelease(t, l, 2)
	if got := out.expect(t, "got", 5*time.Second); got != "got <nil>" {
		t.Fatalf("the continued reader: %q", got)
	}
	killHelper(t, cmd.Process)
}

// A stopped process whose writer took the field and waits for readers to
// leave has the field taken away, so new readers are not held up; when it
// runs again it queues again and gets the lock in turn.
func TestStoppedPendingWriterLosesField(t *testing.T) {
	l, name := openTest(t, Options{})
	mustAcquire(t, l, 1, ModeRead)
	cmd, out := startHelper(t, "wait", name, "write")
	out.expect(t, "waiting", 10*time.Second)
	waitFor(t, 5*time.Second, "writer draining", func() bool {
		st, _ := l.Stats()
		return st.WriterPID == uint32(cmd.Process.Pid) && atomic.LoadUint32(l.seg.state())&stateDrainWaiting != 0
	})
	stopHelper(t, cmd.Process)
	t0 := time.Now()
	if err := l.Acquire(2, ModeRead, 3*time.Second); err != nil {
		t.Fatalf("reader behind a stopped pending writer: %v", err)
	}
	d := time.Since(t0)
	t.Logf("took the field from a stopped pending writer in %v", d)
	if d > time.Second {
		t.Fatalf("took %v (aim: about a poll interval)", d)
	}
	cmd.Process.Signal(syscall.SIGCONT)
	waitFor(t, 5*time.Second, "writer pending again", func() bool {
		st, _ := l.Stats()
		return st.WriterPID == uint32(cmd.Process.Pid)
	})
	if st, _ := l.Stats(); st.WriterActive || st.Readers != 2 {
		t.Fatalf("the continued writer got in beside readers: %+v", st)
	}
	mustRelease(t, l, 1)
	mustRelease(t, l, 2)
	if got := out.expect(t, "got", 5*time.Second); got != "got <nil>" {
		t.Fatalf("the continued writer: %q", got)
	}
	killHelper(t, cmd.Process)
}

// A stopped process that really holds the lock still blocks others: that
// is what holding means (documented).
func TestStoppedHolderStillBlocks(t *testing.T) {
	l, name := openTest(t, Options{})
	cmd, out := startHelper(t, "hold", name, "read")
	out.expect(t, "held", 10*time.Second)
	stopHelper(t, cmd.Process)
	if err := l.Acquire(1, ModeWrite, 100*time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("write beside a stopped reader: %v", err)
	}
	killHelper(t, cmd.Process)
}

// A holder that execs no longer maps the segment: it is treated as dead.
func TestExecWhileHoldingIsDeath(t *testing.T) {
	for _, tc := range []struct {
		mode string
		want error
	}{{"read", nil}, {"write", ErrOwnerDead}} {
		t.Run(tc.mode, func(t *testing.T) {
			l, name := openTest(t, Options{})
			cmd, out := startHelper(t, "hold", name, tc.mode, "exec")
			out.expect(t, "held", 10*time.Second)
			waitFor(t, 5*time.Second, "exec", func() bool {
				b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", cmd.Process.Pid))
				return string(b) == "sleep\n"
			})
			t0 := time.Now()
			if err := l.Acquire(1, ModeWrite, 3*time.Second); err != tc.want {
				t.Fatalf("write after a %s holder exec'd: %v, want %v", tc.mode, err, tc.want)
			}
			t.Logf("recovered in %v", time.Since(t0))
			if err := l.Release(1); err != nil {
				t.Fatal(err)
			}
			killHelper(t, cmd.Process)
		})
	}
}

// The sync.RWMutex-style methods cannot report EOWNERDEAD, so they never
// clear the mark; ReleaseUnrepaired keeps it too; only a told writer's
// Release clears it.
func TestOwnerDeadMarkKeptUnlessTold(t *testing.T) {
	l, _ := openTest(t, Options{})
	forgeWriter(t, l, ident{pid: 4000005, pstart: 1, pidns: self().pidns})
	l.Lock() // recovers the dead writer; the grant is silent
	l.Unlock()
	if !l.OwnerDied() {
		t.Fatal("Lock/Unlock cleared the owner-dead mark")
	}
	if err := l.LockTimeout(time.Second); err != nil {
		t.Fatal(err)
	}
	l.Unlock()
	if !l.OwnerDied() {
		t.Fatal("LockTimeout/Unlock cleared the owner-dead mark")
	}
	if err := l.Acquire(1, ModeWrite, time.Second); err != ErrOwnerDead {
		t.Fatalf("told acquire: %v", err)
	}
	if err := l.ReleaseUnrepaired(1); err != nil {
		t.Fatal(err)
	}
	if !l.OwnerDied() {
		t.Fatal("ReleaseUnrepaired cleared the owner-dead mark")
	}
	if err := l.Acquire(1, ModeWrite, time.Second); err != ErrOwnerDead {
		t.Fatalf("told acquire: %v", err)
	}
	mustRelease(t, l, 1)
	if l.OwnerDied() {
		t.Fatal("a told writer's release kept the mark")
	}
}

// A writer that dies inside release after it marked its slot free (the
// data was complete) leaves a writer field that recovery clears without an
// owner-dead mark.
func TestDeathInsideReleaseIsNotOwnerDeath(t *testing.T) {
	l, _ := openTest(t, Options{})
	s := l.seg
	i := forgeWriter(t, l, ident{pid: 4000006, pstart: 1, pidns: self().pidns})
	atomic.StoreUint64(s.ctl(i), makeCtl(1, slotFree))
	if err := l.Acquire(1, ModeWrite, time.Second); err != nil {
		t.Fatalf("after a writer died mid-release: %v", err)
	}
	mustRelease(t, l, 1)
}

// A lock opened by a relative path shares through its token from any
// working directory.
func TestRelativePathToken(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	l, err := Open("./rel.lock", Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t.Chdir(os.TempDir())
	l2, err := OpenToken(l.Token())
	if err != nil {
		t.Fatalf("OpenToken(%q) from elsewhere: %v", l.Token(), err)
	}
	defer l2.Close()
	if l2.Path() != dir+"/rel.lock" {
		t.Fatalf("path %q", l2.Path())
	}
}

// Abandon ends an owner as if it had died, and forgets it: records of
// owners that came and went (threads) do not pile up.
func TestAbandon(t *testing.T) {
	l, _ := openTest(t, Options{})
	s := l.seg
	mustAcquire(t, l, 1, ModeWrite)
	if err := l.Abandon(1); err != nil {
		t.Fatal(err)
	}
	if err := l.Acquire(2, ModeRead, time.Second); err != ErrOwnerDead {
		t.Fatalf("after an abandoned write hold: %v", err)
	}
	if err := l.Acquire(3, ModeRead, 0); err != ErrOwnerDead {
		t.Fatal(err)
	}
	if err := l.Abandon(3); err != nil {
		t.Fatal(err)
	}
	if err := l.Abandon(3); err != ErrNotHeld {
		t.Fatalf("abandon twice: %v", err)
	}
	l.Release(2)
	for o := Owner(100); o < 20100; o++ {
		if err := l.Acquire(o, ModeRead, 0); err != nil && err != ErrOwnerDead {
			t.Fatal(err)
		}
		if o%2 == 0 {
			mustRelease(t, l, o) // released, then forgotten
		}
		l.Abandon(o)
	}
	if n := len(s.recs.cur.Load().keys); n > 64 {
		t.Fatalf("record table grew to %d positions for a handful of live owners", n)
	}
	if st, _ := l.Stats(); st.UsedSlots != 0 {
		t.Fatalf("slots left: %+v", st)
	}
}
