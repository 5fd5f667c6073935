//go:build linux

package lock

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Shared memory written by a hostile or buggy process must not crash a
// correct user, hang it beyond its timeout, or make it write outside the
// segment. A goroutine scribbles on the segment through a second mapping
// (as another process would: the engine cannot tell) while goroutines of
// this process and a helper process keep using the lock.

func init() {
	helpers["hostile-user"] = helperHostileUser
}

// hostileSlack is how much longer than its timeout a call may take on a
// loaded two-core machine under the race detector.
const hostileSlack = 2 * time.Second

// allowedUnderAttack are the outcomes a correct user may see while the
// segment is being scribbled on.
func allowedUnderAttack(err error) bool {
	if err == nil {
		return true
	}
	for _, e := range []error{ErrBusy, ErrTimeout, ErrProtocol, ErrFull, ErrOwnerDead,
		ErrNotHeld, ErrDeadlock, ErrInterrupted, ErrClosed, ErrLost} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// scribbler writes random and plausible garbage all over a raw mapping of
// a segment of the given capacity.
type scribbler struct {
	raw      []byte
	capacity int
	rng      *rand.Rand
	writes   int
	header   [offState]byte // the original header, restored now and then
}

// repairHeader puts the original header back, so that openers are
// sometimes accepted and then meet the garbage in the rest.
func (s *scribbler) repairHeader() {
	for off := 0; off < offState; off += 4 {
		atomic.StoreUint32(s.u32(off), *(*uint32)(ptrAt(s.header[:], off)))
	}
}

func (s *scribbler) u32(off int) *uint32 { return (*uint32)(ptrAt(s.raw, off)) }
func (s *scribbler) u64(off int) *uint64 { return (*uint64)(ptrAt(s.raw, off)) }

// plausiblePID returns a pid that is alive, dead, ours or impossible.
func (s *scribbler) plausiblePID() uint32 {
	switch s.rng.IntN(5) {
	case 0:
		return uint32(os.Getpid())
	case 1:
		return 1 // always alive, never ours
	case 2:
		return uint32(1<<22 + 1 + s.rng.IntN(1000)) // cannot exist
	case 3:
		return 0
	}
	return s.rng.Uint32()
}

func (s *scribbler) scribble() {
	slotOff, attOff, size := layoutFor(s.capacity)
	r := s.rng
	s.writes++
	switch r.IntN(8) {
	case 0: // any header field, closerPID excepted (see TestOpenStaleClosingState)
		off := 4 * r.IntN(offState/4)
		if off == offCloserPID {
			off = offSegState
		}
		atomic.StoreUint32(s.u32(off), r.Uint32()&[]uint32{0xffffffff, 7, 0x1ff}[r.IntN(3)])
	case 1: // the lock word: garbage, or a writer index in and out of range
		var v uint32
		switch r.IntN(3) {
		case 0:
			v = r.Uint32()
		case 1:
			v = uint32(1+r.IntN(s.capacity+8)) | uint32(r.IntN(16))<<16
		default:
			v = uint32(r.IntN(16)) << 16
		}
		atomic.StoreUint32(s.u32(offState), v)
	case 2: // the futex words and counters
		off := []int{offReadSeq, offWriteSeq, offDrainSeq, offRecoveries, offRecoveries + 4, offOwnerDeaths, offUsedWords}[r.IntN(7)]
		atomic.StoreUint32(s.u32(off), r.Uint32())
	case 3: // the bitmap
		w := offBitmap + 8*r.IntN(s.capacity/64)
		atomic.StoreUint64(s.u64(w), []uint64{r.Uint64(), ^uint64(0), 0}[r.IntN(3)])
	case 4, 5: // a slot: owner, ctl, count, pstart, pidns, since
		base := slotOff + slotSize*r.IntN(s.capacity)
		switch r.IntN(6) {
		case 0:
			atomic.StoreUint64(s.u64(base+slotOwner), uint64(s.plausiblePID())<<32|uint64(r.Uint32()))
		case 1:
			atomic.StoreUint64(s.u64(base+slotCtl), makeCtl(r.Uint32(), uint32(r.IntN(8))))
		case 2:
			atomic.StoreUint32(s.u32(base+slotCount), []uint32{0, 1, r.Uint32(), 0xffffffff}[r.IntN(4)])
		case 3:
			atomic.StoreUint64(s.u64(base+slotPstart), r.Uint64())
		case 4:
			atomic.StoreUint64(s.u64(base+slotPidns), []uint64{0, r.Uint64()}[r.IntN(2)])
		default:
			atomic.StoreUint64(s.u64(base+slotSince), r.Uint64())
		}
	case 6: // an attachment
		base := attOff + attachSize*r.IntN(s.capacity)
		atomic.StoreUint32(s.u32(base+attPID), s.plausiblePID())
		atomic.StoreUint64(s.u64(base+attPstart), []uint64{0, r.Uint64()}[r.IntN(2)])
	default: // any aligned word at all, closerPID excepted
		off := 8 * r.IntN(size/8)
		if off == offCloserPID-4 {
			off = offState
		}
		atomic.StoreUint64(s.u64(off), r.Uint64())
	}
}

// useUnderAttack runs random operations on l as owner o until stop closes,
// checking that each returns in time with an allowed outcome. It reports
// the first violation, if any, and the number of calls made.
func useUnderAttack(l *Lock, o Owner, seed uint64, stop <-chan struct{}) (calls int, bad error) {
	r := rand.New(rand.NewPCG(seed, 1))
	timeouts := []time.Duration{0, time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond}
	for {
		select {
		case <-stop:
			return calls, nil
		default:
		}
		calls++
		d := timeouts[r.IntN(len(timeouts))]
		start := time.Now()
		var err error
		op := r.IntN(10)
		switch op {
		case 0, 1:
			err = l.Acquire(o, ModeRead, d)
		case 2, 3:
			err = l.Acquire(o, ModeWrite, d)
		case 4:
			ctx, cancel := context.WithTimeout(context.Background(), d+time.Millisecond)
			err = l.AcquireContext(ctx, o, Mode(1+r.IntN(2)))
			cancel()
		case 5:
			err = l.Downgrade(o)
		case 6:
			_, err = l.Stats()
		case 7:
			_, err = l.Holders()
		case 8:
			_, err = l.Recover()
			l.OwnerDied()
			l.Held(o)
		default:
			err = l.Release(o)
		}
		if took := time.Since(start); took > d+hostileSlack {
			return calls, fmt.Errorf("op %d with timeout %v took %v", op, d, took)
		}
		if !allowedUnderAttack(err) {
			return calls, fmt.Errorf("op %d: unexpected error %v", op, err)
		}
		if r.IntN(4) == 0 {
			l.Release(o) // do not sit on holds: let the others in
		}
	}
}

// helperHostileUser: args path seconds. Opens, uses and closes the lock in
// a loop, so that validation runs against the scribbled segment.
func helperHostileUser(args []string) {
	secs, _ := strconv.Atoi(args[1])
	stopAt := time.Now().Add(time.Duration(secs) * time.Second)
	opens, refused, calls := 0, 0, 0
	for time.Now().Before(stopAt) {
		start := time.Now()
		l, err := Open(args[0], Options{})
		if took := time.Since(start); took > 5*time.Second+hostileSlack {
			fmt.Println("slow open", took)
			os.Exit(1)
		}
		if err != nil {
			refused++
			time.Sleep(time.Millisecond)
			continue
		}
		opens++
		stop := make(chan struct{})
		time.AfterFunc(20*time.Millisecond, func() { close(stop) })
		n, bad := useUnderAttack(l, gettid(), uint64(opens), stop)
		calls += n
		if bad != nil {
			fmt.Println("bad", bad)
			os.Exit(1)
		}
		start = time.Now()
		l.Close()
		if took := time.Since(start); took > hostileSlack {
			fmt.Println("slow close", took)
			os.Exit(1)
		}
	}
	fmt.Println("ok", opens, refused, calls)
}

func TestHostileWriter(t *testing.T) {
	const capacity = 64
	const storm = 2 * time.Second
	path := filepath.Join(t.TempDir(), "hostile")
	l, err := Open(path, Options{Create: true, Capacity: capacity})
	if err != nil {
		t.Fatal(err)
	}
	_, _, size := layoutFor(capacity)
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	unix.Close(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(raw)

	helper, _, out := startIO(t, "hostile-user", path, strconv.Itoa(int(storm/time.Second)))

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var calls atomic.Int64
	errs := make(chan error, 8)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			n, bad := useUnderAttack(l, Owner(100+g), uint64(g), stop)
			calls.Add(int64(n))
			if bad != nil {
				errs <- bad
			}
		}(g)
	}
	sc := &scribbler{raw: raw, capacity: capacity, rng: rand.New(rand.NewPCG(42, uint64(time.Now().UnixNano())))}
	copy(sc.header[:], raw)
	deadline := time.Now().Add(storm)
	for time.Now().Before(deadline) {
		for i := 0; i < 1+sc.rng.IntN(8); i++ {
			sc.scribble()
		}
		if sc.rng.IntN(10) == 0 {
			sc.repairHeader()
		}
		time.Sleep(time.Duration(sc.rng.IntN(200)) * time.Microsecond)
	}
	close(stop)
	within(t, 10*time.Second, "users under attack", func() bool { wg.Wait(); return true })
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	line := out.expect(t, "ok", 15*time.Second)
	if err := helper.Wait(); err != nil {
		t.Errorf("helper: %v", err)
	}
	if err := within(t, 5*time.Second, "Close", l.Close); err != nil {
		t.Errorf("Close: %v", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Size() != int64(size) {
		t.Errorf("segment resized to %d", fi.Size())
	}
	t.Logf("%d scribbles; %d calls in-process; helper opens/refused/calls: %s", sc.writes, calls.Load(), line[3:])
	if calls.Load() < 100 {
		t.Errorf("only %d calls made: the users were stuck", calls.Load())
	}
}

// A segment left in segClosing by a closer whose pid is alive (a reused
// pid, or a hostile writer) must not hang Open or Close forever. The
// engine gives up after a bounded number of waits.
func TestOpenStaleClosingState(t *testing.T) {
	const bound = 8 * time.Second
	t.Run("Open", func(t *testing.T) {
		t.Parallel()
		b := segmentBytes(t, 64, false, nil)
		put32(b, offSegState, segClosing)
		put32(b, offCloserPID, 1) // init: alive, but not deciding anything
		path := writeSeg(t, t.TempDir(), "closing", b)
		start := time.Now()
		l, err := openWithin(t, bound, path, Options{})
		if err == nil {
			l.Close()
			t.Fatal("Open of a segment stuck closing succeeded")
		}
		if !errors.Is(err, ErrProtocol) && !errors.Is(err, ErrTimeout) {
			t.Errorf("Open = %v, want ErrProtocol or ErrTimeout", err)
		}
		t.Logf("Open gave up after %v: %v", time.Since(start).Round(time.Millisecond), err)
	})
	t.Run("Close", func(t *testing.T) {
		t.Parallel()
		b := segmentBytes(t, 64, false, nil)
		put32(b, offFlags, flagAnonymous)
		path := writeSeg(t, t.TempDir(), "anon", b)
		l, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		atomic.StoreUint32(l.seg.u32(offCloserPID), 1)
		atomic.StoreUint32(l.seg.u32(offSegState), segClosing)
		start := time.Now()
		within(t, bound, "Close", l.Close)
		t.Logf("Close gave up after %v", time.Since(start).Round(time.Millisecond))
		if !exists(path) {
			t.Error("Close removed a segment it could not decide about")
		}
	})
}
