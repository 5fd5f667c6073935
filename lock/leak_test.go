//go:build linux

package lock

import (
	"os"
	"strings"
	"testing"
)

func countOwnFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func countMappings(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "prwlock.")
}

// Thousands of open/use/close cycles leak no descriptor, no mapping and no
// file, and a handle keeps no descriptor open at all.
func TestNoLeaks(t *testing.T) {
	l, name := openTest(t, Options{})
	fds, maps := countOwnFDs(t), countMappings(t)
	for i := 0; i < 2000; i++ {
		h, err := Open(name, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Acquire(Owner(i%50+1), ModeWrite, -1); err != nil {
			t.Fatal(err)
		}
		h.Release(Owner(i%50 + 1))
		h.Close()
		a, err := CreateAnonymous(Options{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := OpenToken(a.Token())
		if err != nil {
			t.Fatal(err)
		}
		b.Close()
		path := a.Path()
		a.Close()
		if _, err := os.Lstat(path); !os.IsNotExist(err) {
			t.Fatalf("anonymous lock file survived its last user: %v", err)
		}
	}
	if n := countOwnFDs(t); n != fds {
		t.Fatalf("descriptors: %d before, %d after", fds, n)
	}
	if n := countMappings(t); n != maps {
		t.Fatalf("lock mappings: %d before, %d after", maps, n)
	}
	if st, _ := l.Stats(); st.UsedSlots != 0 || st.Attached != 1 {
		t.Fatalf("%+v", st)
	}
}
