//go:build linux

package lock

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The sync.RWMutex-style methods take holds through the handle's cells
// (rwmutex.go) and fall back to the general path when every cell is busy
// or holding. Holds are handed between goroutines (RUnlock on another
// goroutine than the RLock, as sync.RWMutex allows), more goroutines hold
// at once than there are cells, and writers in other processes and on
// another handle of this one compete; the invariant is checked inside
// every critical section.
func TestCellsHammer(t *testing.T) {
	l, name := openTest(t, Options{})
	l2, err := Open(name, Options{}) // same process, same segment: its own cells
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	m := newSharedMem(t)
	const procs, gor, iters = 2, 3, 300
	errs := make(chan error, procs)
	for p := 0; p < procs; p++ {
		cmd := helperCmd(t, "hammer", name, m.path, strconv.Itoa(gor), strconv.Itoa(iters), "40")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { errs <- cmd.Wait() }()
	}
	const local, rounds = 3 * synCells, 400
	// Read holds handed to another goroutine, which releases them.
	handed := make(chan struct{}, local)
	released := make(chan struct{})
	go func() {
		for range handed {
			l.RUnlock()
		}
		close(released)
	}()
	var wg sync.WaitGroup
	for k := 0; k < local; k++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			h := l
			if k%4 == 3 {
				h = l2
			}
			for i := 0; i < rounds; i++ {
				switch {
				case k%4 == 3 || i%7 == 0:
					h.Lock()
					checkInside(m, true, i%2)
					if i%3 == 0 {
						h.DowngradeLock()
						checkInside(m, false, 0)
						h.RUnlock()
					} else {
						h.Unlock()
					}
				case k%2 == 0 && h == l:
					h.RLock()
					checkInside(m, false, i%3)
					handed <- struct{}{}
				default:
					h.RLock()
					checkInside(m, false, i%3)
					h.RUnlock()
				}
			}
		}(k)
	}
	wg.Wait()
	close(handed)
	<-released
	waitHammers(t, errs, procs)
	expectNoViolations(t, m)
	if st, _ := l.Stats(); st.UsedSlots != 0 || st.WriterPID != 0 || st.Readers != 0 {
		t.Fatalf("lock not clean: %+v", st)
	}
	// Every hold was released exactly once: none is left for RUnlock.
	for _, f := range []func(){l.RUnlock, l.Unlock, l2.RUnlock, l2.Unlock} {
		if !panics(f) {
			t.Fatal("unlock of an unlocked handle did not panic")
		}
	}
}

func panics(f func()) (did bool) {
	defer func() { did = recover() != nil }()
	f()
	return false
}

// Two handles of one process share the segment and its owner records;
// the owners their sync.RWMutex-style methods make up must differ, or a
// read lock on one handle would be taken for a recursive hold of the
// other's writer (ErrDeadlock) instead of blocking it.
func TestHandlesOwnDistinctSyntheticOwners(t *testing.T) {
	l, name := openTest(t, Options{})
	l2, err := Open(name, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	l.RLock()
	if err := l2.LockTimeout(20 * time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("write lock on a second handle under a read lock: %v, want ErrTimeout", err)
	}
	l.RUnlock()
	l.Lock()
	if l2.TryRLock() {
		t.Fatal("TryRLock on a second handle under Lock")
	}
	l.Unlock()
	l2.Lock()
	l2.Unlock()
}

// The cells' fast path gives way to the general path exactly where the
// lock cannot be had at once: a pending writer blocks a new RLock even
// though the handle's cell could publish a read hold.
func TestCellsRespectPendingWriter(t *testing.T) {
	l, _ := openTest(t, Options{})
	l.RLock() // a cell, kept slot and all, is now warm
	l.RUnlock()
	l.RLock()
	w := acquireAsync(l, 7, ModeWrite, 5*time.Second)
	waitFor(t, 5*time.Second, "writer pending", func() bool {
		st, _ := l.Stats()
		return st.WriterPID != 0
	})
	if l.TryRLock() {
		t.Fatal("TryRLock overtook a pending writer")
	}
	got := make(chan struct{})
	go func() { l.RLock(); close(got) }()
	select {
	case <-got:
		t.Fatal("RLock overtook a pending writer")
	case <-time.After(50 * time.Millisecond):
	}
	l.RUnlock()
	expectGranted(t, w, 5*time.Second, "writer")
	mustRelease(t, l, 7)
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("RLock not granted after the writer")
	}
	l.RUnlock()
}

// Close races with calls on its handle: none crashes or hangs, each
// either completes or reports the closed handle, and the process's last
// close leaves no hold and no slot behind.
func TestCellsCloseRacesCalls(t *testing.T) {
	for round := 0; round < 20; round++ {
		l, name := openTest(t, Options{})
		var wg sync.WaitGroup
		start := make(chan struct{})
		for k := 0; k < synCells+2; k++ {
			wg.Add(1)
			go func(k int) {
				defer wg.Done()
				<-start
				for i := 0; ; i++ {
					ok := !panics(func() {
						if (k+i)%3 == 0 {
							l.Lock()
							l.Unlock()
						} else {
							l.RLock()
							l.RUnlock()
						}
					})
					if !ok {
						return
					}
				}
			}(k)
		}
		close(start)
		time.Sleep(time.Duration(round%5) * time.Millisecond)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		v, err := Open(name, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if st, _ := v.Stats(); st.UsedSlots != 0 || st.Readers != 0 || st.WriterPID != 0 {
			t.Fatalf("round %d: after the last close: %+v", round, st)
		}
		if _, owned := keptBy(v.seg); len(owned) != 0 {
			t.Fatalf("round %d: slots %v still ours after the last close", round, owned)
		}
		v.Close()
	}
}

// A hold taken through a cell is the process's like any other: the last
// close releases it, a write hold as if its writer died.
func TestCloseReleasesCellHolds(t *testing.T) {
	l, name := openTest(t, Options{})
	v, err := Open(name, Options{})
	if err != nil {
		t.Fatal(err)
	}
	v.Lock()
	v.Close() // not the last handle: the hold stays
	if l.TryRLock() {
		t.Fatal("write hold gone with a handle that was not the last")
	}
	l.Close() // the last: it goes, as if its writer died
	l, err = Open(name, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Acquire(1, ModeRead, time.Second); err != ErrOwnerDead {
		t.Fatalf("after the last close of a write hold's handle: %v, want ErrOwnerDead", err)
	}
	mustRelease(t, l, 1)
}

// The write pair skips its scans when every other slot in use is idle
// (othersIdle). Readers that claim a fresh slot for every hold (their bit
// appears after their ctl store) and readers that keep theirs (idle ->
// read under the writer's nose, no bit changes) race with a writer whose
// slot stays kept, and writers from another process compete; no reader
// may be inside with the writer.
func TestWriteFastPathRacesFreshClaims(t *testing.T) {
	l, name := openTest(t, Options{Capacity: 128})
	m := newSharedMem(t)
	cmd := helperCmd(t, "hammer", name, m.path, "2", "300", "50")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var stop atomic.Bool
	for k := 0; k < 6; k++ {
		wg.Add(1)
		go func(o Owner) {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				if err := l.Acquire(o, ModeRead, -1); err != nil {
					t.Error(err)
					return
				}
				checkInside(m, false, i%2)
				if err := l.Release(o); err != nil {
					t.Error(err)
					return
				}
				if o%2 == 0 {
					l.Abandon(o) // give the kept slot up: the next hold claims afresh
				}
			}
		}(Owner(100 + k))
	}
	helper := make(chan error, 1)
	go func() { helper <- cmd.Wait() }()
	// Write until the helper is done, and at least a few thousand times.
	var herr error
	for i, done := 0, false; !done || i < 3000; i++ {
		mustAcquire(t, l, 1, ModeWrite)
		checkInside(m, true, 0)
		mustRelease(t, l, 1)
		if !done {
			select {
			case herr = <-helper:
				done = true
			default:
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	if herr != nil {
		t.Fatalf("hammer helper: %v", herr)
	}
	expectNoViolations(t, m)
}

// A releasing writer alone in the bitmap skips the hand-off scan, but a
// reader that queued behind it is in the bitmap, so it is handed the lock.
func TestWriteFastPathHandsOff(t *testing.T) {
	l, _ := openTest(t, Options{})
	for i := 0; i < 3; i++ {
		mustAcquire(t, l, 1, ModeWrite)
		mustRelease(t, l, 1)
	}
	mustAcquire(t, l, 1, ModeWrite)
	r := acquireAsync(l, 2, ModeRead, 5*time.Second)
	waitFor(t, 5*time.Second, "reader queued", func() bool {
		st, _ := l.Stats()
		return st.WaitingReaders == 1
	})
	mustRelease(t, l, 1)
	expectGranted(t, r, 5*time.Second, "queued reader")
	mustRelease(t, l, 2)
	if h, _ := l.Holders(); len(h) != 0 {
		t.Fatalf("holders left: %+v", h)
	}
}

// A file truncated under the cells' fast paths makes RLock and RUnlock
// panic with ErrProtocol, as the general path does: never a crash, and
// the handle still closes.
func TestCellsTruncatedUnderUs(t *testing.T) {
	l, err := Open(t.TempDir()+"/trunc", Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	l.RLock() // warm two cells: one holds, one keeps an idle slot
	l.RLock()
	l.RUnlock()
	if err := os.Truncate(l.Path(), 0); err != nil {
		t.Fatal(err)
	}
	for _, op := range []struct {
		name string
		f    func()
	}{{"RLock", l.RLock}, {"RUnlock", l.RUnlock}, {"Lock", l.Lock}} {
		func() {
			defer func() {
				r := recover()
				if s, ok := r.(string); !ok || !strings.Contains(s, ErrProtocol.Error()) {
					t.Errorf("%s on a truncated segment: panic %v, want ErrProtocol", op.name, r)
				}
			}()
			op.f()
		}()
	}
	if err := l.Close(); !errors.Is(err, ErrProtocol) {
		t.Errorf("close of a truncated segment: %v", err)
	}

	// Unlock's fast path, on a cell that holds write.
	w, err := Open(t.TempDir()+"/truncw", Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	w.Lock()
	if err := os.Truncate(w.Path(), 0); err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			r := recover()
			if s, ok := r.(string); !ok || !strings.Contains(s, ErrProtocol.Error()) {
				t.Errorf("Unlock on a truncated segment: panic %v, want ErrProtocol", r)
			}
		}()
		w.Unlock()
	}()
	if err := w.Close(); !errors.Is(err, ErrProtocol) {
		t.Errorf("close of a truncated segment: %v", err)
	}
}

// A Lock whose fast path has to wait (a reader holds) leaves its cell in
// flight for the segment's active count before it sleeps: the last Close
// then ends the wait with ErrClosed instead of waiting for it, and a wait
// that ends in a grant holds like any other.
func TestCellLockWaitsOutsideFlight(t *testing.T) {
	l, _ := openTest(t, Options{})
	l.Lock() // warm a cell: its owner keeps an idle slot, so the next Lock takes the fast path
	l.Unlock()
	granted := make(chan any, 1)
	// lockBehindReader starts a Lock while owner 1 holds read and returns
	// once it waits (pending); granted gets what it panicked with, or nil.
	lockBehindReader := func() {
		mustAcquire(t, l, 1, ModeRead)
		go func() {
			defer func() { granted <- recover() }()
			l.Lock()
		}()
		waitFor(t, 5*time.Second, "Lock waiting for the reader", func() bool {
			st, _ := l.Stats()
			return st.WriterPID != 0 && !st.WriterActive
		})
	}
	lockBehindReader()
	mustRelease(t, l, 1)
	if p := <-granted; p != nil {
		t.Fatalf("Lock after the reader left: panic %v", p)
	}
	l.Unlock()

	lockBehindReader()
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close waits for a Lock that waits")
	}
	p := <-granted
	if s, ok := p.(string); !ok || !strings.Contains(s, ErrClosed.Error()) {
		t.Fatalf("Lock waiting at the last Close: panic %v, want ErrClosed", p)
	}
}
