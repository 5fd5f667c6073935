//go:build linux

package lock

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func parseMode(s string) Mode {
	if s == "write" {
		return ModeWrite
	}
	return ModeRead
}

func init() {
	// hold NAME MODE [exec]: take the lock and keep it until killed, or
	// exec a program that does not use it.
	helpers["hold"] = func(args []string) {
		runtime.LockOSThread()
		l, err := Open(args[0], Options{})
		if err != nil {
			panic(err)
		}
		if err := l.Acquire(gettid(), parseMode(args[1]), -1); err != nil && err != ErrOwnerDead {
			panic(err)
		}
		fmt.Println("held")
		if len(args) > 2 && args[2] == "exec" {
			// Become a program that knows nothing of the lock: the pid
			// and start time live on, the mapping does not.
			os.Stdout.Sync()
			panic(syscall.Exec("/bin/sleep", []string{"sleep", "60"}, os.Environ()))
		}
		for {
			time.Sleep(time.Hour)
		}
	}
	// wait NAME MODE: announce, then block in acquire until killed.
	helpers["wait"] = func(args []string) {
		runtime.LockOSThread()
		l, err := Open(args[0], Options{})
		if err != nil {
			panic(err)
		}
		fmt.Println("waiting")
		err = l.Acquire(gettid(), parseMode(args[1]), -1)
		fmt.Println("got", err)
		for {
			time.Sleep(time.Hour)
		}
	}
	// churn NAME: acquire and release in a tight loop until killed, so
	// that a kill lands mid-acquire or mid-release.
	helpers["churn"] = func(args []string) {
		l, err := Open(args[0], Options{})
		if err != nil {
			panic(err)
		}
		fmt.Println("running")
		for k := 0; k < 3; k++ {
			go func(k int) {
				runtime.LockOSThread()
				o := gettid()
				for i := 0; ; i++ {
					switch (i + k) % 4 {
					case 0, 1:
						l.Acquire(o, ModeRead, 50*time.Millisecond)
					case 2:
						l.Acquire(o, ModeWrite, 50*time.Millisecond)
					case 3:
						if l.Acquire(o, ModeWrite, 50*time.Millisecond) == nil {
							l.Downgrade(o)
						}
					}
					for l.Held(o) != ModeNone {
						l.Release(o)
					}
				}
			}(k)
		}
		for {
			time.Sleep(time.Hour)
		}
	}
}

func killHelper(t *testing.T, p *os.Process) {
	t.Helper()
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	p.Wait()
}

// A holder killed with SIGKILL while holding read or write blocks nobody
// for long; a dead writer makes every acquire report ErrOwnerDead until a
// writer that was told releases.
func TestKilledHolder(t *testing.T) {
	for _, mode := range []string{"read", "write"} {
		t.Run(mode, func(t *testing.T) {
			l, name := openTest(t, Options{})
			cmd, out := startHelper(t, "hold", name, mode)
			out.expect(t, "held", 10*time.Second)
			if err := l.Acquire(1, ModeWrite, 0); !errors.Is(err, ErrBusy) {
				t.Fatalf("lock not held by helper: %v", err)
			}
			w := acquireAsync(l, 1, ModeWrite, 10*time.Second)
			time.Sleep(20 * time.Millisecond)
			// Unreaped: the helper stays a zombie until Wait, which must not
			// make it look alive.
			t0 := time.Now()
			cmd.Process.Kill()
			var err error
			select {
			case err = <-w:
			case <-time.After(5 * time.Second):
				t.Fatal("waiter not released after the holder died")
			}
			el := time.Since(t0)
			cmd.Wait()
			t.Logf("writer got the lock %v after SIGKILL of a %s holder", el, mode)
			if el > time.Second {
				t.Fatalf("recovery took %v", el)
			}
			if mode == "read" {
				if err != nil {
					t.Fatalf("dead reader must be recovered silently: %v", err)
				}
				mustRelease(t, l, 1)
				if l.OwnerDied() {
					t.Fatal("owner-dead after a reader died")
				}
				return
			}
			if !errors.Is(err, ErrOwnerDead) {
				t.Fatalf("after a dead writer: %v", err)
			}
			st, _ := l.Stats()
			if !st.OwnerDead || st.OwnerDeaths != 1 || st.Recoveries < 1 {
				t.Fatalf("stats after a dead writer: %+v", st)
			}
			// Until the told writer releases, readers are told too; a
			// downgrade does not mark the data consistent... release does.
			if err := l.Acquire(2, ModeRead, 0); !errors.Is(err, ErrBusy) {
				t.Fatalf("reader during write hold: %v", err)
			}
			mustRelease(t, l, 1)
			if l.OwnerDied() {
				t.Fatal("release by the told writer did not clear owner-dead")
			}
			if err := l.Acquire(2, ModeRead, 0); err != nil {
				t.Fatalf("reader after repair: %v", err)
			}
			mustRelease(t, l, 2)
		})
	}
}

// Readers keep hearing ErrOwnerDead until a told writer releases.
func TestOwnerDeadUntilRepaired(t *testing.T) {
	l, name := openTest(t, Options{})
	cmd, out := startHelper(t, "hold", name, "write")
	out.expect(t, "held", 10*time.Second)
	killHelper(t, cmd.Process)
	for i := 0; i < 3; i++ {
		if err := l.Acquire(Owner(5+i), ModeRead, 2*time.Second); !errors.Is(err, ErrOwnerDead) {
			t.Fatalf("read %d after dead writer: %v", i, err)
		}
	}
	for i := 0; i < 3; i++ {
		mustRelease(t, l, Owner(5+i))
	}
	if !l.OwnerDied() {
		t.Fatal("readers must not clear owner-dead")
	}
	// A writer that is told and then closes its handle without releasing
	// leaves the data inconsistent still.
	if err := l.Acquire(9, ModeWrite, time.Second); !errors.Is(err, ErrOwnerDead) {
		t.Fatal(err)
	}
	if err := l.Downgrade(9); err != nil {
		t.Fatal(err)
	}
	mustRelease(t, l, 9)
	if l.OwnerDied() {
		t.Fatal("a told writer's downgrade and release must mark the data consistent")
	}
}

// A process killed while waiting, in either mode, leaves no waiter behind,
// and a pending writer killed while draining readers stops blocking them.
func TestKilledWaiter(t *testing.T) {
	for _, mode := range []string{"read", "write"} {
		t.Run(mode, func(t *testing.T) {
			l, name := openTest(t, Options{})
			mustAcquire(t, l, 1, ModeWrite)
			cmd, out := startHelper(t, "wait", name, mode)
			out.expect(t, "waiting", 10*time.Second)
			waitFor(t, 5*time.Second, "helper queued", func() bool {
				st, _ := l.Stats()
				return st.WaitingReaders+st.WaitingWriters == 1
			})
			killHelper(t, cmd.Process)
			mustRelease(t, l, 1)
			mustAcquire(t, l, 2, ModeWrite)
			mustRelease(t, l, 2)
			// The dead reader may have been handed the lock by the release
			// and recovered by our writer; either way exactly one slot.
			l.Recover()
			if st, _ := l.Stats(); st.Recoveries != 1 || st.UsedSlots != 0 || st.WaitingReaders+st.WaitingWriters != 0 {
				t.Fatalf("dead waiter left state: %+v", st)
			}
		})
	}
	t.Run("pending writer", func(t *testing.T) {
		l, name := openTest(t, Options{})
		mustAcquire(t, l, 1, ModeRead)
		cmd, out := startHelper(t, "wait", name, "write")
		out.expect(t, "waiting", 10*time.Second)
		waitFor(t, 5*time.Second, "writer pending", func() bool { st, _ := l.Stats(); return st.WriterPID != 0 })
		r := acquireAsync(l, 2, ModeRead, 5*time.Second)
		expectBlocked(t, r, 30*time.Millisecond, "new reader behind a pending writer")
		t0 := time.Now()
		killHelper(t, cmd.Process)
		expectGranted(t, r, time.Second, "reader after the pending writer died")
		t.Logf("reader admitted %v after the pending writer died", time.Since(t0))
		if l.OwnerDied() {
			t.Fatal("a writer that never drained the readers wrote nothing")
		}
		mustRelease(t, l, 1)
		mustRelease(t, l, 2)
	})
}

// Kills land at random points of a tight acquire/release loop: the lock
// must stay usable and, once the dead are swept, clean.
func TestKillDuringChurn(t *testing.T) {
	l, name := openTest(t, Options{})
	for round := 0; round < 8; round++ {
		cmd, out := startHelper(t, "churn", name)
		out.expect(t, "running", 10*time.Second)
		time.Sleep(time.Duration(5+round*7) * time.Millisecond)
		killHelper(t, cmd.Process)
		if err := l.Acquire(1, ModeWrite, 2*time.Second); err != nil && !errors.Is(err, ErrOwnerDead) {
			t.Fatalf("round %d: lock unusable after kill: %v", round, err)
		}
		mustRelease(t, l, 1)
		l.Recover()
		st, _ := l.Stats()
		if st.UsedSlots != 0 || st.WriterPID != 0 || st.Readers != 0 {
			t.Fatalf("round %d: lock not clean: %+v", round, st)
		}
		mustAcquire(t, l, 2, ModeRead)
		mustRelease(t, l, 2)
	}
}

// forgeHolder writes a write-holding slot for an owner that does not exist
// in the way the test wants, bypassing the API.
func forgeWriter(t *testing.T, l *Lock, id ident) int {
	t.Helper()
	s := l.seg
	i := 5
	atomic.StoreUint64(s.owner(i), processKey(id))
	atomic.StoreUint64(s.holder(i), 77)
	atomic.StoreUint64(s.pstart(i), id.pstart)
	atomic.StoreUint64(s.pidns(i), id.pidns)
	atomic.StoreUint64(s.ctl(i), makeCtl(1, slotWrite))
	s.markUsed(i)
	atomic.StoreUint32(s.state(), uint32(i+1))
	return i
}

// PID reuse never makes a dead holder look alive: a slot carrying our own
// pid with another start time is a dead earlier incarnation.
func TestPIDReuseIsDeath(t *testing.T) {
	l, _ := openTest(t, Options{})
	me := self()
	forgeWriter(t, l, ident{pid: me.pid, pstart: me.pstart + 12345, pidns: me.pidns})
	t0 := time.Now()
	if err := l.Acquire(1, ModeRead, time.Second); !errors.Is(err, ErrOwnerDead) {
		t.Fatalf("reused pid: %v", err)
	}
	t.Logf("recovered in %v", time.Since(t0))
	mustRelease(t, l, 1)
}

// A holder in another PID namespace is never declared dead, even when its
// pid means nothing here.
func TestOtherPIDNamespaceNotDeclaredDead(t *testing.T) {
	l, _ := openTest(t, Options{})
	me := self()
	i := forgeWriter(t, l, ident{pid: 4000000, pstart: 1, pidns: me.pidns + 1})
	if err := l.Acquire(1, ModeRead, 60*time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("holder in another namespace was overridden: %v", err)
	}
	// Clean up the forged slot by hand.
	s := l.seg
	atomic.StoreUint32(s.state(), 0)
	atomic.StoreUint64(s.ctl(i), makeCtl(1, slotFree))
	atomic.AndUint64(s.bitmapWord(0), ^uint64(1<<i))
	atomic.StoreUint64(s.owner(i), 0)
}

func TestRecoveryAttemptsAreBounded(t *testing.T) {
	// A slot recovered by a process that died mid-recovery is taken over.
	l, _ := openTest(t, Options{})
	s := l.seg
	i := forgeWriter(t, l, ident{pid: 4000001, pstart: 1, pidns: self().pidns})
	atomic.StoreUint64(s.owner(i), markerKey(ident{pid: 4000002, pstart: 1, pidns: self().pidns})) // dead recoverer
	if err := l.Acquire(1, ModeWrite, time.Second); !errors.Is(err, ErrOwnerDead) {
		t.Fatalf("after a dead recoverer: %v", err)
	}
	mustRelease(t, l, 1)
	if st, _ := l.Stats(); st.UsedSlots != 0 {
		t.Fatalf("%+v", st)
	}
}

func TestCapacityFull(t *testing.T) {
	l, _ := openTest(t, Options{Capacity: 64})
	for o := Owner(1); o <= 64; o++ {
		mustAcquire(t, l, o, ModeRead)
	}
	if err := l.Acquire(100, ModeRead, 0); !errors.Is(err, ErrFull) {
		t.Fatalf("65th holder: %v", err)
	}
	if err := l.Acquire(100, ModeWrite, 50*time.Millisecond); !errors.Is(err, ErrFull) {
		t.Fatalf("65th waiter: %v", err)
	}
	for o := Owner(1); o <= 64; o++ {
		mustRelease(t, l, o)
	}
	mustAcquire(t, l, 100, ModeWrite)
	mustRelease(t, l, 100)
	if st, _ := l.Stats(); st.UsedSlots != 0 || st.Capacity != 64 {
		t.Fatalf("%+v", st)
	}
}

// Closing the last handle releases what the process holds.
func TestCloseReleasesHolds(t *testing.T) {
	l, name := openTest(t, Options{})
	l2, err := Open(name, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustAcquire(t, l, 1, ModeRead)
	mustAcquire(t, l, 2, ModeRead)
	cmd, out := startHelper(t, "wait", name, "write")
	out.expect(t, "waiting", 10*time.Second)
	waitFor(t, 5*time.Second, "writer queued", func() bool { st, _ := l.Stats(); return st.WriterPID != 0 })
	l.Close()
	// l2 still open: holds stay.
	if l2.Held(1) != ModeRead {
		t.Fatal("hold dropped while another handle is open")
	}
	l2.Close()
	got := out.expect(t, "got", 5*time.Second)
	if got != "got <nil>" {
		t.Fatalf("waiter after close: %q", got)
	}
	killHelper(t, cmd.Process)
}
