//go:build linux

package lock

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Misuse of the Go API: every case gets a precise error (or, for the
// sync.RWMutex-style methods, the documented panic) and nothing crashes.
// Names are covered by TestInvalidNames, the basic error matrix by
// TestErrorMatrix and open/close cycles by the leak tests; this file fills
// in handles, tokens, unlink and concurrent close.

// handleCalls are the methods of a handle that report errors.
var handleCalls = []struct {
	name string
	call func(l *Lock) error
}{
	{"Acquire read", func(l *Lock) error { return l.Acquire(1, ModeRead, 0) }},
	{"Acquire write", func(l *Lock) error { return l.Acquire(1, ModeWrite, time.Millisecond) }},
	{"Acquire forever", func(l *Lock) error { return l.Acquire(1, ModeWrite, -1) }},
	{"AcquireUntil", func(l *Lock) error { return l.AcquireUntil(1, ModeRead, MonotonicNow()+1e6) }},
	{"AcquireContext", func(l *Lock) error { return l.AcquireContext(context.Background(), 1, ModeRead) }},
	{"Release", func(l *Lock) error { return l.Release(1) }},
	{"Downgrade", func(l *Lock) error { return l.Downgrade(1) }},
	{"Stats", func(l *Lock) error { _, err := l.Stats(); return err }},
	{"Holders", func(l *Lock) error { _, err := l.Holders(); return err }},
	{"Recover", func(l *Lock) error { _, err := l.Recover(); return err }},
	{"RLockTimeout", func(l *Lock) error { return l.RLockTimeout(time.Millisecond) }},
	{"LockTimeout", func(l *Lock) error { return l.LockTimeout(time.Millisecond) }},
	{"RLockContext", func(l *Lock) error { return l.RLockContext(context.Background()) }},
	{"LockContext", func(l *Lock) error { return l.LockContext(context.Background()) }},
	{"TryRLock", func(l *Lock) error { return boolErr(l.TryRLock()) }},
	{"TryLock", func(l *Lock) error { return boolErr(l.TryLock()) }},
	{"Close", func(l *Lock) error { return l.Close() }},
}

// boolErr maps a Try method's false to ErrClosed, which is what the tests
// expect of a dead handle; true would be a grant on a dead handle.
func boolErr(ok bool) error {
	if ok {
		return errors.New("granted on a dead handle")
	}
	return ErrClosed
}

// callSafely runs f and turns a panic into an error.
func callSafely(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return f()
}

func TestMisuseDeadHandles(t *testing.T) {
	closed, _ := openTest(t, Options{})
	closed.Close()
	twice, _ := openTest(t, Options{})
	twice.Close()
	twice.Close()
	handles := map[string]*Lock{"nil": nil, "closed": closed, "double-closed": twice}
	for hname, l := range handles {
		for _, c := range handleCalls {
			t.Run(hname+"/"+c.name, func(t *testing.T) {
				err := callSafely(func() error { return c.call(l) })
				if !errors.Is(err, ErrClosed) || !errors.Is(err, syscall.EBADF) {
					t.Fatalf("got %v, want ErrClosed (EBADF)", err)
				}
			})
		}
		if l.Held(1) != ModeNone || l.OwnerDied() {
			t.Errorf("%s handle: Held or OwnerDied report something", hname)
		}
	}
	// The panicking methods panic with the package's message, never with a
	// runtime error.
	for _, m := range []struct {
		name string
		f    func()
	}{
		{"RLock", closed.RLock}, {"Lock", closed.Lock},
		{"RUnlock", closed.RUnlock}, {"Unlock", closed.Unlock}, {"DowngradeLock", closed.DowngradeLock},
	} {
		err := callSafely(func() error { m.f(); return nil })
		if err == nil || !strings.Contains(err.Error(), "prwlock:") {
			t.Errorf("closed.%s: %v, want a prwlock panic", m.name, err)
		}
	}
}

func TestMisuseOwnersAndModes(t *testing.T) {
	l, _ := openTest(t, Options{})
	cases := []struct {
		name string
		call func() error
		want error
	}{
		{"acquire owner 0", func() error { return l.Acquire(0, ModeWrite, 0) }, ErrInvalid},
		{"acquire reserved owner", func() error { return l.Acquire(0xffffffff, ModeRead, 0) }, ErrInvalid},
		{"acquire ModeNone", func() error { return l.Acquire(1, ModeNone, 0) }, ErrInvalid},
		{"acquire mode 255", func() error { return l.Acquire(1, Mode(255), -1) }, ErrInvalid},
		{"release owner 0", func() error { return l.Release(0) }, ErrInvalid},
		{"downgrade owner 0", func() error { return l.Downgrade(0) }, ErrInvalid},
		{"release never held", func() error { return l.Release(12345) }, ErrNotHeld},
		{"release twice", func() error {
			mustAcquire(t, l, 1, ModeRead)
			mustRelease(t, l, 1)
			return l.Release(1)
		}, ErrNotHeld},
		{"downgrade from recursive read", func() error {
			mustAcquire(t, l, 1, ModeRead)
			mustAcquire(t, l, 1, ModeRead)
			defer mustRelease(t, l, 1)
			defer mustRelease(t, l, 1)
			return l.Downgrade(1)
		}, ErrNotHeld},
		{"downgrade twice", func() error {
			mustAcquire(t, l, 1, ModeWrite)
			defer mustRelease(t, l, 1)
			if err := l.Downgrade(1); err != nil {
				return err
			}
			return l.Downgrade(1)
		}, ErrNotHeld},
		{"RWMutex write on a thread's read", func() error {
			// Synthetic owners never collide with a thread's owner.
			mustAcquire(t, l, 1, ModeRead)
			defer mustRelease(t, l, 1)
			if l.TryLock() {
				return errors.New("TryLock granted while a reader holds")
			}
			return ErrBusy
		}, ErrBusy},
	}
	for _, c := range cases {
		err := callSafely(c.call)
		if !errors.Is(err, c.want) || !errors.Is(err, Errno(c.want)) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		if st, _ := l.Stats(); st.UsedSlots != 0 {
			t.Fatalf("%s left slots in use: %+v", c.name, st)
		}
	}
	for _, m := range []struct {
		name string
		f    func()
	}{{"RUnlock", l.RUnlock}, {"Unlock", l.Unlock}, {"DowngradeLock", l.DowngradeLock}} {
		err := callSafely(func() error { m.f(); return nil })
		if err == nil || !strings.Contains(err.Error(), "prwlock:") {
			t.Errorf("%s without a hold: %v, want a prwlock panic", m.name, err)
		}
	}
}

// preciseOpenError: an error with a real errno, never EIO (which means a
// bug) and never success.
func preciseOpenError(t *testing.T, what string, l *Lock, err error) {
	t.Helper()
	if err == nil {
		l.Close()
		t.Errorf("%s: opened", what)
		return
	}
	if e := Errno(err); e == syscall.EIO || e == 0 {
		t.Errorf("%s: %v maps to %v, want a precise errno", what, err, e)
	}
}

func TestMisuseTokens(t *testing.T) {
	l, err := CreateAnonymous(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tok := l.Token()
	// Every truncation of a valid token.
	for n := 0; n < len(tok); n++ {
		m, err := OpenToken(tok[:n])
		preciseOpenError(t, fmt.Sprintf("token truncated to %d bytes %q", n, tok[:n]), m, err)
	}
	// Oversized, padded and decorated tokens.
	big := []string{
		tok + strings.Repeat("x", 1<<20),
		strings.Repeat(tok, 100),
		tok + "/",
		tok + "\n",
		" " + tok,
		tok + "\x00",
		strings.Replace(tok, ":", "::", 1),
		strings.Replace(tok, "/dev/shm", "/dev/shm/../shm", 1),
		strings.Replace(tok, "/dev/shm/", "/dev/shm//", 1),
	}
	for _, b := range big {
		m, err := OpenToken(b)
		if strings.Replace(tok, "/dev/shm/", "/dev/shm//", 1) == b && err == nil {
			// Same file by another spelling: a legitimate open.
			m.Close()
			continue
		}
		what := b
		if len(what) > 80 {
			what = what[:80] + "..."
		}
		preciseOpenError(t, fmt.Sprintf("token %q (%d bytes)", what, len(b)), m, err)
	}
	// Random bytes, and random mutations of the real token.
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		var b []byte
		if i%2 == 0 {
			b = make([]byte, r.IntN(300))
			for j := range b {
				b[j] = byte(r.IntN(256))
			}
		} else {
			b = []byte(tok)
			for k := 0; k < 1+r.IntN(3); k++ {
				b[r.IntN(len(b))] = byte(r.IntN(256))
			}
		}
		m, err := OpenToken(string(b))
		if err == nil {
			// A mutation that still names this very file is fine.
			if m.Path() != l.Path() {
				t.Errorf("token %q opened %s", b, m.Path())
			}
			m.Close()
			continue
		}
		preciseOpenError(t, fmt.Sprintf("token %q", b), nil, err)
	}
}

func TestMisuseAfterUnlink(t *testing.T) {
	l, name := openTest(t, Options{})
	if err := Unlink(name); err != nil {
		t.Fatal(err)
	}
	if err := Unlink(name); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("second Unlink: %v, want ErrNotExist", err)
	}
	if m, err := Open(name, Options{}); !errors.Is(err, fs.ErrNotExist) {
		preciseOpenError(t, "open after unlink", m, err)
		t.Errorf("Open after Unlink: %v, want ErrNotExist", err)
	}
	if m, err := OpenToken(l.Token()); !errors.Is(err, fs.ErrNotExist) {
		if err == nil {
			m.Close()
		}
		t.Errorf("OpenToken after Unlink: %v, want ErrNotExist", err)
	}
	// The unlinked lock still works for its handles, and a new lock of the
	// same name is a different lock: both can be write-held at once.
	mustAcquire(t, l, 1, ModeWrite)
	n, err := Open(name, Options{Create: true, Exclusive: true})
	if err != nil {
		t.Fatalf("re-create after unlink: %v", err)
	}
	defer n.Close()
	if err := n.Acquire(2, ModeWrite, 0); err != nil {
		t.Errorf("new lock of the same name is not independent: %v", err)
	}
	n.Release(2)
	mustRelease(t, l, 1)
	st, _ := l.Stats()
	if st.UsedSlots != 0 || st.Attached != 1 {
		t.Errorf("old lock after use: %+v", st)
	}
}

// Closing the last handle while other goroutines wait in, or race into,
// calls on it: waiters return ErrClosed promptly, nothing panics, and the
// lock is left clean for other handles.
func TestMisuseCloseWhileInUse(t *testing.T) {
	base, name := openTest(t, Options{})
	// base holds write from owner 100, so waiters below really wait.
	mustAcquire(t, base, 100, ModeWrite)
	for round := 0; round < 20; round++ {
		l, err := Open(name+"-other", Options{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		holder := Owner(1)
		mustAcquire(t, l, holder, ModeWrite)
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				o := Owner(10 + g)
				for i := 0; i < 50; i++ {
					var err error
					switch (g + i) % 5 {
					case 0:
						err = l.Acquire(o, ModeRead, -1) // waits behind the holder
					case 1:
						err = l.Acquire(o, ModeWrite, 50*time.Millisecond)
					case 2:
						err = l.Release(o)
					case 3:
						_, err = l.Holders()
					default:
						err = l.Downgrade(o)
					}
					if errors.Is(err, ErrClosed) {
						return
					}
					for _, ok := range []error{nil, ErrBusy, ErrTimeout, ErrNotHeld, ErrOwnerDead} {
						if err == ok || errors.Is(err, ok) && ok != nil {
							err = nil
						}
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}(g)
		}
		time.Sleep(time.Duration(round%5) * time.Millisecond)
		var closers sync.WaitGroup
		var nilCloses sync.Map
		for c := 0; c < 4; c++ {
			closers.Add(1)
			go func(c int) {
				defer closers.Done()
				if err := l.Close(); err == nil {
					nilCloses.Store(c, true)
				} else if !errors.Is(err, ErrClosed) {
					errs <- fmt.Errorf("Close: %v", err)
				}
			}(c)
		}
		closers.Wait()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("goroutines still inside a closed handle after 5 s")
		}
		close(errs)
		for err := range errs {
			t.Errorf("round %d: %v", round, err)
		}
		n := 0
		nilCloses.Range(func(_, _ any) bool { n++; return true })
		if n != 1 {
			t.Fatalf("round %d: %d concurrent Closes succeeded, want 1", round, n)
		}
		// The holder's write hold was released as if it died; nothing else
		// is left behind.
		m, err := Open(name+"-other", Options{})
		if err != nil {
			t.Fatal(err)
		}
		m.Recover()
		st, _ := m.Stats()
		if st.UsedSlots != 0 || !st.OwnerDead {
			t.Errorf("round %d: after close: %+v, want no slots and owner-dead", round, st)
		}
		if err := m.Acquire(1, ModeWrite, 0); !errors.Is(err, ErrOwnerDead) {
			t.Errorf("round %d: %v, want ErrOwnerDead", round, err)
		}
		mustRelease(t, m, 1)
		m.Close()
		Unlink(name + "-other")
	}
	mustRelease(t, base, 100)
}

// An anonymous lock file left in the removed state (its last user died
// between marking it removed and unlinking it) can never be opened again.
// The sweep that every process's first CreateAnonymous runs must remove it
// quickly, not spend the open timeout on it and leave it for the next
// process to trip over.
func TestSweepRemovesStaleRemovedAnonymous(t *testing.T) {
	b := segmentBytes(t, 64, false, nil)
	put32(b, offFlags, flagAnonymous)
	put32(b, offSegState, segRemoved)
	put32(b, offCloserPID, 4000001) // cannot exist (pid_max is at most 4194304)
	path := fmt.Sprintf("%s/%s4000001.%016x", ShmDir, anonPrefix, rand.Uint64())
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(path)
	start := time.Now()
	SweepAnonymous()
	took := time.Since(start)
	if _, err := os.Lstat(path); err == nil {
		t.Errorf("stale removed anonymous segment still there after the sweep (sweep took %v)", took)
	}
	if took > time.Second {
		t.Errorf("sweep took %v over one stale file", took)
	}
}
