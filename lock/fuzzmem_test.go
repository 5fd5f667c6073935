//go:build linux

package lock

import (
	"encoding/binary"
	"errors"
	"testing"
)

// fuzzSegment lays arbitrary bytes over a segment of capacity 64 whose
// header is valid: everything after the header (lock word, futex words,
// bitmap, holder table, attachments) is whatever a hostile or buggy
// process could have written.
func fuzzSegment(data []byte) *Lock {
	const capacity = 64
	slotOff, attOff, size := layoutFor(capacity)
	mem := make([]byte, size)
	copy(mem, data)
	ne := binary.NativeEndian
	ne.PutUint64(mem[offMagic:], magicValue)
	ne.PutUint32(mem[offVersion:], layoutVersion)
	ne.PutUint32(mem[offSlotSize:], slotSize)
	ne.PutUint64(mem[offSize:], uint64(size))
	ne.PutUint32(mem[offCapacity:], capacity)
	ne.PutUint32(mem[offAttachCap:], capacity)
	ne.PutUint32(mem[offSegState:], segReady)
	ne.PutUint32(mem[offFlags:], 0)
	s := &segment{mem: mem, capacity: capacity, slotOff: slotOff, attOff: attOff,
		path: "fuzz", me: self(), attSlot: -1}
	s.key = processKey(s.me)
	s.refs = 1
	return &Lock{seg: s, name: "fuzz"}
}

// FuzzSegmentMemory runs the lock's operations over arbitrary shared state.
// They must never panic, hang or touch memory outside the segment, and may
// only fail with the documented errors.
func FuzzSegmentMemory(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 8192))
	held := make([]byte, 8192)
	binary.NativeEndian.PutUint32(held[offState:], 5|stateReadersWaiting)
	f.Add(held)
	corrupt := make([]byte, 8192)
	for i := range corrupt {
		corrupt[i] = byte(i*7 + 3)
	}
	f.Add(corrupt)
	f.Fuzz(func(t *testing.T, data []byte) {
		l := fuzzSegment(data)
		check := func(what string, err error) {
			for _, ok := range []error{nil, ErrBusy, ErrOwnerDead, ErrFull, ErrProtocol, ErrNotHeld, ErrDeadlock, ErrLost} {
				if errors.Is(err, ok) {
					return
				}
			}
			t.Fatalf("%s: unexpected error %v", what, err)
		}
		for o := Owner(1); o <= 3; o++ {
			check("try read", l.Acquire(o, ModeRead, 0))
		}
		check("try write", l.Acquire(4, ModeWrite, 0))
		check("downgrade", l.Downgrade(4))
		_, err := l.Stats()
		check("stats", err)
		_, err = l.Holders()
		check("holders", err)
		for o := Owner(1); o <= 4; o++ {
			for l.Held(o) != ModeNone {
				check("release", l.Release(o))
			}
		}
		_, err = l.Recover()
		check("recover", err)
		check("try write after recover", l.Acquire(5, ModeWrite, 0))
		if l.Held(5) != ModeNone {
			check("release", l.Release(5))
		}
	})
}
