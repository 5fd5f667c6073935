//go:build linux && cgo

package cplane

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/prwlock/prwlock/lock"
)

// The two implementations of the protocol must agree. The differential test
// runs one random sequence of operations three times, each on a fresh
// segment: all through the Go engine (package lock), all through the C
// engine, and mixed (each owner through one engine chosen at random, so
// both engines act on one segment). After every step the three must have
// returned the same result and left byte-identical shared state.
//
// Operations never wait: tries, and slices whose end has passed (a queued
// wait stays queued, as AcquireSlice leaves it). Both engines stamp wait
// times from the clock, so before each step every non-zero since field is
// rewritten in the three segments alike: the order of the waits is kept,
// and the values sit an hour before or after now (chosen at random per
// step), so that the writer-order decisions ("waited more than 4 ms") are
// the same whatever the machine's speed.

const (
	capacity = 64
	owners   = 4
)

// Layout offsets this test reads. They are the protocol's (layout.go);
// TestLayoutHeaderMatchesSegments holds the C header to the same values.
const (
	offState  = 64
	offBitmap = 384
	slotSize  = 64
	slotCtl   = 8
	slotFlags = 20
	slotSince = 40
)

type engine interface {
	acquire(o uint32, m int, deadline, sliceEnd int64) int
	release(o uint32, keep bool) int
	downgrade(o uint32) int
	cancel(o uint32) int
	abandon(o uint32) int
	held(o uint32) int
}

type goEngine struct{ l *lock.Lock }

func errnoOf(err error) int { return int(lock.Errno(err)) }

func (g goEngine) acquire(o uint32, m int, deadline, sliceEnd int64) int {
	if sliceEnd == 0 {
		return errnoOf(g.l.AcquireUntil(lock.Owner(o), lock.Mode(m), deadline))
	}
	return errnoOf(g.l.AcquireSlice(lock.Owner(o), lock.Mode(m), deadline, sliceEnd))
}
func (g goEngine) release(o uint32, keep bool) int {
	if keep {
		return errnoOf(g.l.ReleaseUnrepaired(lock.Owner(o)))
	}
	return errnoOf(g.l.Release(lock.Owner(o)))
}
func (g goEngine) downgrade(o uint32) int { return errnoOf(g.l.Downgrade(lock.Owner(o))) }
func (g goEngine) cancel(o uint32) int    { return errnoOf(g.l.Cancel(lock.Owner(o))) }
func (g goEngine) abandon(o uint32) int   { return errnoOf(g.l.Abandon(lock.Owner(o))) }
func (g goEngine) held(o uint32) int      { return int(g.l.Held(lock.Owner(o))) }

type cEngine struct{ s *Seg }

func (c cEngine) acquire(o uint32, m int, deadline, sliceEnd int64) int {
	return c.s.Acquire(o, m, deadline, sliceEnd)
}
func (c cEngine) release(o uint32, keep bool) int { return c.s.Release(o, keep) }
func (c cEngine) downgrade(o uint32) int          { return c.s.Downgrade(o) }
func (c cEngine) cancel(o uint32) int             { return c.s.Cancel(o) }
func (c cEngine) abandon(o uint32) int            { return c.s.Abandon(o) }
func (c cEngine) held(o uint32) int               { return c.s.Held(o) }

// mixed routes each owner to one engine.
type mixed struct {
	g, c engine
	useC [owners + 1]bool
}

func (x mixed) pick(o uint32) engine {
	if x.useC[o] {
		return x.c
	}
	return x.g
}
func (x mixed) acquire(o uint32, m int, d, s int64) int { return x.pick(o).acquire(o, m, d, s) }
func (x mixed) release(o uint32, keep bool) int         { return x.pick(o).release(o, keep) }
func (x mixed) downgrade(o uint32) int                  { return x.pick(o).downgrade(o) }
func (x mixed) cancel(o uint32) int                     { return x.pick(o).cancel(o) }
func (x mixed) abandon(o uint32) int                    { return x.pick(o).abandon(o) }
func (x mixed) held(o uint32) int                       { return x.pick(o).held(o) }

// segment is one lock with both engines' views of it.
type segment struct {
	name string
	l    *lock.Lock
	c    *Seg
	mem  []byte
	m    lock.Mapping
}

func newSegment(t *testing.T, tag string) *segment {
	t.Helper()
	name := fmt.Sprintf("cplane-diff-%d-%s", os.Getpid(), tag)
	l, err := lock.Open(name, lock.Options{Create: true, Exclusive: true, Capacity: capacity})
	if err != nil {
		t.Fatal(err)
	}
	m, err := l.Mapping()
	if err != nil {
		t.Fatal(err)
	}
	return &segment{name: name, l: l, c: New(m), m: m, mem: unsafe.Slice((*byte)(m.Base), m.Size)}
}

func (s *segment) close() {
	// Abandon whatever the sequence left, then close and remove.
	s.c.Free()
	s.l.Close()
	lock.Unlink(s.name)
}

func (s *segment) u64(off int) uint64 {
	return *(*uint64)(unsafe.Pointer(&s.mem[off]))
}

func (s *segment) setU64(off int, v uint64) {
	*(*uint64)(unsafe.Pointer(&s.mem[off])) = v
}

// normalize rewrites the since fields of waits as described above. With
// ties, consecutive waits share a value (the slot index then decides).
func (s *segment) normalize(base int64, ties bool) {
	type w struct {
		since int64
		i     int
	}
	var ws []w
	for i := 0; i < capacity; i++ {
		if v := int64(s.u64(s.m.SlotOff + i*slotSize + slotSince)); v != 0 {
			ws = append(ws, w{v, i})
		}
	}
	slices.SortFunc(ws, func(a, b w) int {
		if a.since != b.since {
			if a.since < b.since {
				return -1
			}
			return 1
		}
		return a.i - b.i
	})
	rank := 0
	for k, x := range ws {
		if k > 0 && x.since != ws[k-1].since {
			rank++
		}
		v := int64(rank)
		if ties {
			v /= 2
		}
		s.setU64(s.m.SlotOff+x.i*slotSize+slotSince, uint64(base+v*1000))
	}
}

// state returns the shared state after the header: the lock word, futex
// words, counters, bitmap and holder table. sflags is masked: the C engine
// marks its owners as threads (slotThreadOwner, layout.go), the Go engine
// does not write the field.
func (s *segment) state() []byte {
	end := s.m.SlotOff + capacity*slotSize
	b := slices.Clone(s.mem[offState:end])
	for i := 0; i < capacity; i++ {
		off := s.m.SlotOff + i*slotSize + slotFlags - offState
		binary.NativeEndian.PutUint32(b[off:], 0)
	}
	return b
}

func (s *segment) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "state %#x bitmap %#x;", binary.NativeEndian.Uint32(s.mem[offState:]), s.u64(offBitmap))
	for i := 0; i < capacity; i++ {
		if ctl := s.u64(s.m.SlotOff + i*slotSize + slotCtl); ctl != 0 {
			fmt.Fprintf(&b, " slot %d ctl %#x since %d;", i, ctl, int64(s.u64(s.m.SlotOff+i*slotSize+slotSince)))
		}
	}
	return b.String()
}

type op struct {
	kind  int
	owner uint32
	mode  int
	old   bool // normalize since values to an hour ago (else an hour ahead)
	ties  bool // and make pairs of waits tie
}

var kindNames = []string{"try", "slice", "release", "release-unrepaired", "downgrade", "cancel", "abandon", "evict"}

func (o op) String() string {
	return fmt.Sprintf("%s(owner %d, mode %d)", kindNames[o.kind], o.owner, o.mode)
}

func randomOps(r *rand.Rand, n int) []op {
	ops := make([]op, n)
	for k := range ops {
		o := op{owner: uint32(1 + r.IntN(owners)), mode: 1 + r.IntN(2), old: r.IntN(2) == 0, ties: r.IntN(3) == 0}
		switch x := r.IntN(21); {
		case x < 5:
			o.kind = 0
		case x < 11:
			o.kind = 1 // slices: queued waits, resumed, replaced
		case x < 15:
			o.kind = 2
		case x < 16:
			o.kind = 3
		case x < 17:
			o.kind = 4
		case x < 19:
			o.kind = 5
		case x < 20:
			o.kind = 6
		default:
			o.kind = 7 // what a claim on a full table does: idle slots are taken away
		}
		ops[k] = o
	}
	return ops
}

func apply(e engine, s *segment, o op) int {
	switch o.kind {
	case 7:
		n, err := s.l.SweepForRoom()
		if err != nil {
			return -1
		}
		return n
	case 0:
		return e.acquire(o.owner, o.mode, 0, 0)
	case 1:
		// Deadline far ahead, slice already over: the wait is queued (or
		// granted at once) and the call returns.
		return e.acquire(o.owner, o.mode, Now()+int64(3600e9), 1)
	case 2:
		return e.release(o.owner, false)
	case 3:
		return e.release(o.owner, true)
	case 4:
		return e.downgrade(o.owner)
	case 5:
		return e.cancel(o.owner)
	default:
		return e.abandon(o.owner)
	}
}

// evictable counts the idle slots the evict steps found (they must find
// some, or the steps prove nothing).
var evictable int

func runSequence(t *testing.T, seed uint64, n int) {
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	ops := randomOps(r, n)
	a, b, m := newSegment(t, "go"), newSegment(t, "c"), newSegment(t, "mixed")
	defer a.close()
	defer b.close()
	defer m.close()
	x := mixed{g: goEngine{m.l}, c: cEngine{m.c}}
	for o := 1; o <= owners; o++ {
		x.useC[o] = r.IntN(2) == 0
	}
	segs := []*segment{a, b, m}
	engines := []engine{goEngine{a.l}, cEngine{b.c}, x}
	names := []string{"go", "c", "mixed"}
	for k, o := range ops {
		base := Now() + int64(3600e9)
		if o.old {
			base = Now() - int64(3600e9)
		}
		var rcs [3]int
		if o.kind == 7 {
			kept := 0
			for i := 0; i < capacity; i++ {
				if uint32(a.u64(a.m.SlotOff+i*slotSize+slotCtl)) == 6 { // slotIdle
					kept++
				}
			}
			evictable += kept
		}
		for j, s := range segs {
			s.normalize(base, o.ties)
			rcs[j] = apply(engines[j], s, o)
			s.normalize(base, o.ties)
		}
		if rcs[1] != rcs[0] || rcs[2] != rcs[0] {
			t.Fatalf("seed %d step %d %v: results go %d, c %d, mixed %d (owners through C: %v)\n%s",
				seed, k, o, rcs[0], rcs[1], rcs[2], x.useC, a.describe())
		}
		for j := 1; j < 3; j++ {
			if !slices.Equal(segs[j].state(), a.state()) {
				t.Fatalf("seed %d step %d %v (rc %d): %s state differs from go\ngo:    %s\n%s: %s",
					seed, k, o, rcs[0], names[j], a.describe(), names[j], segs[j].describe())
			}
		}
		for ow := uint32(1); ow <= owners; ow++ {
			for j := 1; j < 3; j++ {
				if engines[j].held(ow) != engines[0].held(ow) {
					t.Fatalf("seed %d step %d %v: owner %d holds %d in %s, %d in go",
						seed, k, o, ow, engines[j].held(ow), names[j], engines[0].held(ow))
				}
			}
		}
	}
}

func TestDifferential(t *testing.T) {
	checks := Checks()
	seeds, steps := 300, 120
	if testing.Short() {
		seeds = 40
	}
	for seed := 0; seed < seeds; seed++ {
		runSequence(t, uint64(seed), steps)
	}
	if n := Checks() - checks; n != 0 {
		t.Errorf("the C engine asked for %d checks; these sequences never wait", n)
	}
	if evictable == 0 {
		t.Error("no evict step found an idle slot to take away")
	}
	t.Logf("evict steps took away %d idle slots", evictable)
}

// TestIdentity: the C engine's view of this process is the Go engine's, so
// that each recognises the other's claims as its own process's.
func TestIdentity(t *testing.T) {
	s := newSegment(t, "self")
	defer s.close()
	pid, pstart, pidns, key := s.c.Self()
	if pid != s.m.PID || pstart != s.m.Pstart || pidns != s.m.Pidns || key != s.m.Key {
		t.Fatalf("C: pid %d pstart %d pidns %d key %#x; Go: pid %d pstart %d pidns %d key %#x",
			pid, pstart, pidns, key, s.m.PID, s.m.Pstart, s.m.Pidns, s.m.Key)
	}
}

// TestModCapacity: claim's division-free modulo equals %, so the C engine
// starts its slot search where the Go engine does.
func TestModCapacity(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for capacity := uint32(64); capacity <= 4096; capacity += 64 {
		for _, x := range []uint32{0, 1, capacity - 1, capacity, capacity + 1, ^uint32(0), ^uint32(0) - capacity + 1} {
			if got := ModCapacity(capacity, x); got != x%capacity {
				t.Fatalf("%d %% %d = %d, want %d", x, capacity, got, x%capacity)
			}
		}
		for k := 0; k < 20000; k++ {
			x := r.Uint32()
			if got := ModCapacity(capacity, x); got != x%capacity {
				t.Fatalf("%d %% %d = %d, want %d", x, capacity, got, x%capacity)
			}
		}
	}
}
