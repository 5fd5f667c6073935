//go:build linux

package lock

import (
	"errors"
	"os"
	"testing"
	"time"
)

// A process that truncates a lock file under its users (any process that
// can write it can) makes their calls fail with ErrProtocol; it never
// crashes them with SIGBUS.
func TestTruncatedUnderUs(t *testing.T) {
	l, err := Open(t.TempDir()+"/trunc", Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	mustAcquire(t, l, 1, ModeRead)
	if err := os.Truncate(l.Path(), 0); err != nil {
		t.Fatal(err)
	}
	for _, op := range []struct {
		name string
		f    func() error
	}{
		{"acquire", func() error { return l.Acquire(2, ModeWrite, 10*time.Millisecond) }},
		{"release", func() error { return l.Release(1) }},
		{"stats", func() error { _, err := l.Stats(); return err }},
		{"holders", func() error { _, err := l.Holders(); return err }},
	} {
		if err := op.f(); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s on a truncated segment: %v", op.name, err)
		}
	}
	if l.OwnerDied() || l.Held(3) != ModeNone {
		t.Error("queries on a truncated segment")
	}
	if err := l.Close(); !errors.Is(err, ErrProtocol) {
		t.Errorf("close of a truncated segment: %v", err)
	}
}
