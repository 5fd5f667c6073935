//go:build linux

package lock

import (
	"runtime/debug"
	"sync/atomic"
	"unsafe"
)

// This file serves another implementation of the protocol that runs in the
// same process on the same mapping: libprwlock's C data plane acquires,
// waits and releases without this package, and asks it only for what it
// does not do itself, the liveness checks and recoveries of a wait (see
// "Liveness" in layout.go). Owners of that implementation have no records
// here: Release, Held and Abandon know nothing of their holds.

// Mapping describes the segment of a lock as this process maps it.
type Mapping struct {
	// Base is the start of the MAP_SHARED mapping, Size its length. It
	// stays mapped while any handle of this process on the same file is
	// open.
	Base     unsafe.Pointer
	Size     int
	Capacity int // holder slots, validated at open
	SlotOff  int // offset of the holder table
	Dev, Ino uint64
	// This process's identity as its claims record it (owner word, pstart
	// and pidns fields).
	PID           uint32
	Pstart, Pidns uint64
	Key           uint64
}

// Mapping returns the lock's segment mapping.
func (l *Lock) Mapping() (m Mapping, err error) {
	s, err := l.enter()
	if err != nil {
		return Mapping{}, err
	}
	defer s.exit(&err, debug.SetPanicOnFault(true))
	return Mapping{Base: unsafe.Pointer(&s.mem[0]), Size: len(s.mem), Capacity: s.capacity,
		SlotOff: s.slotOff, Dev: s.dev, Ino: s.ino, PID: s.me.pid, Pstart: s.me.pstart,
		Pidns: s.me.pidns, Key: s.key}, nil
}

// CheckWriter is the check of a waiting reader: it recovers the owner of
// the writer field if that owner is dead.
func (l *Lock) CheckWriter() (err error) {
	s, err := l.enter()
	if err != nil {
		return err
	}
	defer s.exit(&err, debug.SetPanicOnFault(true))
	s.checkWriter(atomic.LoadUint32(s.state()))
	return nil
}

// CheckWriteWait is the check of a writer waiting in slot i for the writer
// field: it recovers the field's owner if dead, and the older writer i
// defers to if that one is dead or stopped.
func (l *Lock) CheckWriteWait(i int) (err error) {
	s, err := l.enter()
	if err != nil {
		return err
	}
	defer s.exit(&err, debug.SetPanicOnFault(true))
	if i < 0 || i >= s.capacity {
		return ErrInvalid
	}
	s.checkWriteWait(i)
	return nil
}

// CheckReaders is the check of a writer draining readers: it recovers dead
// read holders and revokes the grants of stopped processes.
func (l *Lock) CheckReaders() (err error) {
	s, err := l.enter()
	if err != nil {
		return err
	}
	defer s.exit(&err, debug.SetPanicOnFault(true))
	s.checkReaders()
	return nil
}

// SweepForRoom is the check of a claim that found the holder table full:
// it recovers dead owners' slots within a bounded time (resuming where the
// last sweep stopped), and returns how many.
func (l *Lock) SweepForRoom() (n int, err error) {
	s, err := l.enter()
	if err != nil {
		return 0, err
	}
	defer s.exit(&err, debug.SetPanicOnFault(true))
	return s.sweepForRoom(), nil
}
