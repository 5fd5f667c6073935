package lock

import (
	"sync/atomic"
	"testing"
)

// usedWords is the segment's usedWords header field (layout.go, Claim order).
func usedWords(s *segment) uint32 { return atomic.LoadUint32(s.u32(offUsedWords)) }

// A claim beyond the first bitmap word raises usedWords first, so that a
// writer's scan, which reads only the words below it, still finds a reader
// whose slot is there; the field is never lowered.
func TestUsedWordsCoverEveryClaim(t *testing.T) {
	l, _ := openTest(t, Options{Capacity: 256})
	s := l.seg
	if u := usedWords(s); u != 0 {
		t.Fatalf("usedWords of a new lock = %d, want 0", u)
	}
	mustAcquire(t, l, 1, ModeRead)
	if u := usedWords(s); u != 1 {
		t.Fatalf("usedWords after one claim = %d, want 1", u)
	}
	// Enough readers at once that some land beyond the first word.
	const n = 100
	for o := Owner(2); o <= n; o++ {
		mustAcquire(t, l, o, ModeRead)
	}
	high, far := Owner(0), int32(0)
	for o := Owner(1); o <= n; o++ {
		if i := s.rec(o).slot; i > far {
			high, far = o, i
		}
	}
	if far < 64 {
		t.Fatalf("%d readers all in the first bitmap word", n)
	}
	if u := usedWords(s); u != uint32(far/64)+1 {
		t.Fatalf("usedWords = %d with a reader in slot %d, want %d", u, far, far/64+1)
	}
	// Only the reader in the highest word stays: a writer must still see it.
	for o := Owner(1); o <= n; o++ {
		if o != high {
			mustRelease(t, l, o)
		}
	}
	if err := l.Acquire(n+1, ModeWrite, 0); err != ErrBusy {
		t.Fatalf("write try with a reader in slot %d: %v, want ErrBusy", far, err)
	}
	if h, err := l.Holders(); err != nil || len(h) != 1 || h[0].Owner != uint64(high) {
		t.Fatalf("holders = %+v, %v; want owner %d alone", h, err, high)
	}
	mustRelease(t, l, high)
	mustAcquire(t, l, n+1, ModeWrite)
	mustRelease(t, l, n+1)
	// Never lowered, though every slot beyond the first word is free again.
	if u := usedWords(s); u != uint32(far/64)+1 {
		t.Fatalf("usedWords fell to %d", u)
	}
}

// A usedWords beyond the table (a corrupt or hostile segment) is bounded by
// the capacity: scans never read past the bitmap.
func TestUsedWordsBeyondCapacityIsBounded(t *testing.T) {
	l, _ := openTest(t, Options{Capacity: 64})
	atomic.StoreUint32(l.seg.u32(offUsedWords), ^uint32(0))
	mustAcquire(t, l, 1, ModeRead)
	if err := l.Acquire(2, ModeWrite, 0); err != ErrBusy {
		t.Fatalf("write try beside a reader: %v, want ErrBusy", err)
	}
	mustRelease(t, l, 1)
	mustAcquire(t, l, 2, ModeWrite)
	mustRelease(t, l, 2)
}
