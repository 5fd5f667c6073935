//go:build linux

package lock

import (
	"errors"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Writers get the free writer field in the order they began to wait.
func TestWritersFIFO(t *testing.T) {
	l, _ := openTest(t, Options{})
	mustAcquire(t, l, 1, ModeWrite)
	order := make(chan Owner, 8)
	for o := Owner(2); o <= 5; o++ {
		go func(o Owner) {
			if err := l.Acquire(o, ModeWrite, 5*time.Second); err != nil {
				t.Error(err)
			}
			order <- o
			time.Sleep(2 * time.Millisecond)
			l.Release(o)
		}(o)
		want := int(o - 1)
		waitFor(t, 2*time.Second, "writer queued", func() bool { st, _ := l.Stats(); return st.WaitingWriters == want })
		time.Sleep(2 * time.Millisecond) // distinct wait-start times
	}
	mustRelease(t, l, 1)
	for want := Owner(2); want <= 5; want++ {
		select {
		case got := <-order:
			if got != want {
				t.Fatalf("writer %d got the lock before writer %d", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("writers stalled")
		}
	}
}

func sliceFor(d time.Duration) int64 { return MonotonicNow() + int64(d) }

// A wait cut into slices keeps its place between them.
func TestSliceKeepsPlace(t *testing.T) {
	l, _ := openTest(t, Options{})
	mustAcquire(t, l, 1, ModeWrite)
	deadline := sliceFor(5 * time.Second)
	err := l.AcquireSlice(2, ModeWrite, deadline, sliceFor(20*time.Millisecond))
	if !errors.Is(err, ErrSliceEnded) || !errors.Is(err, syscall.EINTR) {
		t.Fatalf("slice end: %v", err)
	}
	if st, _ := l.Stats(); st.WaitingWriters != 1 {
		t.Fatalf("the sliced wait is not queued: %+v", st)
	}
	w3 := acquireAsync(l, 3, ModeWrite, 5*time.Second)
	waitFor(t, 2*time.Second, "younger writer queued", func() bool { st, _ := l.Stats(); return st.WaitingWriters == 2 })
	mustRelease(t, l, 1) // owner 2 is between slices right now
	expectBlocked(t, w3, 50*time.Millisecond, "younger writer while the older one is between slices")
	if err := l.AcquireSlice(2, ModeWrite, deadline, sliceFor(time.Second)); err != nil {
		t.Fatalf("resumed wait: %v", err)
	}
	mustRelease(t, l, 2)
	expectGranted(t, w3, 2*time.Second, "younger writer")
	mustRelease(t, l, 3)
}

// A writer between slices keeps the writer field: new readers stay out.
// Cancel gives the field up, and a grant that raced with it back.
func TestSliceCancel(t *testing.T) {
	l, _ := openTest(t, Options{})
	mustAcquire(t, l, 1, ModeRead)
	if err := l.AcquireSlice(2, ModeWrite, -1, sliceFor(10*time.Millisecond)); !errors.Is(err, ErrSliceEnded) {
		t.Fatal(err)
	}
	if err := l.Acquire(4, ModeRead, 0); !errors.Is(err, ErrBusy) {
		t.Fatalf("reader entered past a sliced pending writer: %v", err)
	}
	if err := l.Cancel(2); err != nil {
		t.Fatal(err)
	}
	if err := l.Cancel(2); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("second cancel: %v", err)
	}
	mustAcquire(t, l, 4, ModeRead)
	mustRelease(t, l, 4)
	mustRelease(t, l, 1)

	// A reader's sliced wait is handed the lock while it is away; Cancel
	// gives it back.
	mustAcquire(t, l, 1, ModeWrite)
	if err := l.AcquireSlice(2, ModeRead, -1, sliceFor(10*time.Millisecond)); !errors.Is(err, ErrSliceEnded) {
		t.Fatal(err)
	}
	mustRelease(t, l, 1)
	if h, _ := l.Holders(); len(h) != 1 || h[0].Waiting || h[0].Mode != ModeRead {
		t.Fatalf("hand-off to the sliced reader: %+v", h)
	}
	if err := l.Cancel(2); err != nil {
		t.Fatal(err)
	}
	if l.Held(2) != ModeNone {
		t.Fatal("phantom hold after cancel")
	}
	// Release also withdraws a queued wait.
	mustAcquire(t, l, 1, ModeWrite)
	if err := l.AcquireSlice(2, ModeWrite, -1, sliceFor(5*time.Millisecond)); !errors.Is(err, ErrSliceEnded) {
		t.Fatal(err)
	}
	if err := l.Release(2); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("release with a queued wait: %v", err)
	}
	mustRelease(t, l, 1)
	if st, _ := l.Stats(); st.UsedSlots != 0 {
		t.Fatalf("slots left: %+v", st)
	}
}

// A pending writer takes back a grant its reader has not accepted (here a
// sliced wait, away between slices) when that reader began to wait less
// than starveNs ago, and leaves an older waiter's grant alone (Hand-off in
// layout.go). The wait-start times are set an hour away from now, as the
// differential test does, so the outcome does not depend on timing.
func TestYoungGrantRevokedOldGrantKept(t *testing.T) {
	for _, old := range []bool{false, true} {
		l, _ := openTest(t, Options{})
		mustAcquire(t, l, 1, ModeWrite)
		if err := l.AcquireSlice(2, ModeRead, -1, sliceFor(time.Millisecond)); !errors.Is(err, ErrSliceEnded) {
			t.Fatal(err)
		}
		w := acquireAsync(l, 3, ModeWrite, 5*time.Second)
		waitFor(t, 2*time.Second, "writer queued", func() bool { st, _ := l.Stats(); return st.WaitingWriters == 1 })
		since := MonotonicNow() + int64(time.Hour)
		if old {
			since = MonotonicNow() - int64(time.Hour)
		}
		atomic.StoreInt64(l.seg.since(int(l.seg.rec(2).slot)), since)
		mustRelease(t, l, 1) // hands owner 2 the lock while it is away
		if old {
			expectBlocked(t, w, 50*time.Millisecond, "writer behind an old waiter's grant")
		} else {
			expectGranted(t, w, 2*time.Second, "writer past a young grant")
			if st, _ := l.Stats(); st.WaitingReaders != 1 || st.Readers != 0 {
				t.Fatalf("the young grant was not taken back: %+v", st)
			}
			mustRelease(t, l, 3) // hands it the lock again
		}
		if err := l.AcquireSlice(2, ModeRead, -1, sliceFor(time.Second)); err != nil {
			t.Fatalf("old=%v: resumed read: %v", old, err)
		}
		mustRelease(t, l, 2)
		if old {
			expectGranted(t, w, 2*time.Second, "writer after the old reader")
			mustRelease(t, l, 3)
		}
		if st, _ := l.Stats(); st.Readers != 0 || st.WriterPID != 0 || st.WaitingReaders != 0 || st.WaitingWriters != 0 {
			t.Fatalf("old=%v: left %+v", old, st)
		}
	}
}
