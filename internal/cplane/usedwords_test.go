//go:build linux && cgo

package cplane

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/prwlock/prwlock/lock"
)

// offUsedWords is usedWords' offset (layout.go, Segment).
const offUsedWords = 336

// Readers claimed by the C engine beyond the first bitmap word are seen by
// the Go engine's writer, and the other way round: each engine raises
// usedWords before it sets a bit there (layout.go, Claim order), and each
// scans only the words below it. Both engines leave the same state.
func TestUsedWordsAcrossEngines(t *testing.T) {
	const n = 100 // readers at once: more than one bitmap word's worth
	for _, readersInC := range []bool{true, false} {
		t.Run(fmt.Sprintf("readers-in-C=%v", readersInC), func(t *testing.T) {
			name := fmt.Sprintf("cplane-used-%d-%v", os.Getpid(), readersInC)
			l, err := lock.Open(name, lock.Options{Create: true, Exclusive: true, Capacity: 256})
			if err != nil {
				t.Fatal(err)
			}
			defer lock.Unlink(name)
			defer l.Close()
			m, err := l.Mapping()
			if err != nil {
				t.Fatal(err)
			}
			c := New(m)
			defer c.Free()
			var readers, writer engine = cEngine{c}, goEngine{l}
			if !readersInC {
				readers, writer = writer, readers
			}
			for o := uint32(1); o <= n; o++ {
				if rc := readers.acquire(o, Read, 0, 0); rc != 0 {
					t.Fatalf("read try of owner %d: %d", o, rc)
				}
			}
			used := atomic.LoadUint32((*uint32)(unsafe.Add(m.Base, offUsedWords)))
			if used < 2 {
				t.Fatalf("usedWords = %d with %d readers in a 64-slot word table", used, n)
			}
			// Keep only the readers whose slots are in the highest used word.
			top := int(used) - 1
			keep := map[uint32]bool{}
			for i := top * 64; i < top*64+64; i++ {
				slot := unsafe.Add(m.Base, m.SlotOff+i*64)
				ctl := atomic.LoadUint64((*uint64)(unsafe.Add(slot, 8)))
				if uint32(ctl) == 1 { // slotRead
					keep[uint32(atomic.LoadUint64((*uint64)(unsafe.Add(slot, 48))))] = true
				}
			}
			if len(keep) == 0 {
				t.Fatalf("no reader in bitmap word %d, though usedWords is %d", top, used)
			}
			for o := uint32(1); o <= n; o++ {
				if !keep[o] {
					if rc := readers.release(o, false); rc != 0 {
						t.Fatalf("release of owner %d: %d", o, rc)
					}
				}
			}
			if rc := writer.acquire(n+1, Write, 0, 0); rc != int(lock.Errno(lock.ErrBusy)) {
				t.Fatalf("write try beside a reader in bitmap word %d: %d, want EBUSY", top, rc)
			}
		})
	}
}
