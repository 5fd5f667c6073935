//go:build linux

package lock

import (
	"fmt"
	"testing"
)

// BenchmarkWriterScan times the scans of the holder table that one
// uncontended write pair makes (olderWriter and anyReader on acquire,
// handOffReaders on release), on a table with used slots in use. The
// other slots hold queued writers that never waited, which every scan
// visits and none changes. Scans go through the bitmap of used slots, so
// the cost is a word per 64 slots of capacity plus the slots in use.
//
//	go test ./lock -run '^$' -bench WriterScan
func BenchmarkWriterScan(b *testing.B) {
	for _, c := range []struct{ capacity, used int }{
		{64, 1}, {128, 1}, {1024, 1}, {1024, 10}, {1024, 1000},
		{4096, 1}, {4096, 10}, {4096, 1000}, {4096, 4096},
	} {
		b.Run(fmt.Sprintf("capacity=%d/used=%d", c.capacity, c.used), func(b *testing.B) {
			l, _ := openTest(b, Options{Capacity: c.capacity})
			s := l.seg
			for k := 1; k < c.used; k++ {
				if _, _, err := s.claim(Owner(1000+k), slotWaitWrite); err != nil {
					b.Fatal(err)
				}
			}
			w, _, err := s.claim(1, slotWaitWrite)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if s.olderWriter(w) >= 0 || s.anyReader() {
					b.Fatal("the table has readers or older writers")
				}
				s.handOffReaders()
			}
		})
	}
}
