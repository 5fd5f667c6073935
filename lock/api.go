package lock

import (
	"context"
	"time"
)

// Mode is the kind of hold an owner has or asks for.
type Mode uint8

const (
	ModeNone  Mode = 0 // no hold
	ModeRead  Mode = 1 // shared hold
	ModeWrite Mode = 2 // exclusive hold
)

func (m Mode) String() string {
	switch m {
	case ModeRead:
		return "read"
	case ModeWrite:
		return "write"
	}
	return "none"
}

// Owner identifies a holder inside the calling process: normally the
// kernel thread id (gettid) of the calling thread, which is what the C
// library passes. Zero is not a valid owner. Values with the top bit set are
// reserved for the owners this package makes up for its sync.RWMutex-style
// methods. One owner must not be used by two goroutines at the same time.
type Owner uint32

// syntheticOwnerBit marks owners made up by this package (RLock and friends).
const syntheticOwnerBit Owner = 1 << 31

// DefaultCapacity is the number of holder slots of a new lock when
// Options.Capacity is zero. Every thread (owner) that holds or waits for
// the lock uses one slot, and every process that has the lock open uses one
// attachment entry; a lock has as many of each as its capacity. The default
// is meant to be out of reach of real programs (a process pool as large as
// a big machine's core count), while staying cheap: the lock file is sparse
// (tmpfs allocates a page only when it is first touched), and the holder
// table is scanned through its bitmap of used slots, so what a lock costs
// grows with the slots in use, not with its capacity. The bitmap still
// costs one word per 64 slots on every writer's scan.
const DefaultCapacity = 1024

// MaxCapacity is the largest holder capacity a segment may declare, and the
// largest Options.Capacity. (The lock word's writer field would index more
// slots, but layout version 1 readers refuse a larger capacity.)
const MaxCapacity = 4096

// Options controls Open and CreateAnonymous.
type Options struct {
	// Create creates the lock if it does not exist.
	Create bool
	// Exclusive, with Create, fails with an error matching fs.ErrExist
	// (EEXIST) when the lock already exists.
	Exclusive bool
	// Perm is the file mode of a lock this call creates; 0 means 0600. It is
	// applied exactly, regardless of the umask. A mode that lets users other
	// than the owner write (group or other write bits) needs MultiUser.
	Perm uint32
	// MultiUser accepts a lock meant to be shared between users. Without
	// it, Open and CreateAnonymous refuse, with ErrPermission, a file owned
	// by neither the caller's effective uid nor root, and a file that users
	// other than its owner can write, because another local user could have
	// planted it (in /dev/shm, anyone can). With it, any owner and mode are
	// accepted and the lock's Token carries the opt-in, pinned to the
	// file's owner. Share such a lock through a path in a directory only
	// its group can write, created with Perm 0660; see README, Permissions.
	MultiUser bool
	// Capacity is the number of holder slots (threads holding or waiting
	// at once) and of attachment entries (processes having the lock open)
	// of a lock this call creates, rounded up to a multiple of 64, at most
	// MaxCapacity; 0 means DefaultCapacity. Opening an existing lock
	// ignores it: the creator chose. Beyond it, acquire and open fail at
	// once with ErrFull.
	Capacity int
}

// Stats is a snapshot of a lock's state.
type Stats struct {
	Readers        int    // owners holding read
	WriterPID      uint32 // 0 when no writer holds or drains the lock
	WriterTID      uint32
	WriterActive   bool // the writer has drained the readers and holds the lock
	WaitingReaders int
	WaitingWriters int // includes a writer that owns the lock but still waits for readers to leave
	Capacity       int
	UsedSlots      int    // slots that hold or wait (not those kept idle between holds)
	Attached       int    // processes that have the lock open (as far as tracked)
	Recoveries     uint64 // slots of dead processes cleaned up
	OwnerDeaths    uint64 // writers that died holding the lock
	OwnerDead      bool   // a writer died and no told writer has released since
}

// Holder describes one slot in the holder table: a hold or a wait.
type Holder struct {
	PID     uint32
	TID     uint32
	Mode    Mode
	Waiting bool   // true while the owner waits for Mode
	Count   uint32 // recursion depth of a read hold
	// Since is the CLOCK_MONOTONIC time in nanoseconds at which the hold
	// or wait began, or was first observed: the uncontended fast path
	// reads no clock, so an inspector stamps such holds when it first sees
	// them. Zero means unknown.
	Since int64
	// Host is the machine of a remote lock's holder; empty for local locks.
	Host string
	// Fence is the fencing token of a remote lock's hold (see Lock.Fence).
	Fence uint64
}

// Acquire takes the lock in mode m for owner o. A negative timeout waits
// forever, zero tries once (ErrBusy), a positive one waits at most that long
// (ErrTimeout), measured on the monotonic clock. ErrOwnerDead means the lock
// was granted but a writer died holding it.
func (l *Lock) Acquire(o Owner, m Mode, timeout time.Duration) error {
	dl := int64(-1)
	if timeout == 0 {
		dl = 0
	} else if timeout > 0 {
		dl = MonotonicNow() + int64(timeout)
	}
	return l.acquire(nil, o, m, dl)
}

// AcquireUntil is Acquire with an absolute CLOCK_MONOTONIC deadline in
// nanoseconds (see MonotonicNow). A deadline of 0 tries once; a negative one
// waits forever.
func (l *Lock) AcquireUntil(o Owner, m Mode, deadline int64) error {
	return l.acquire(nil, o, m, deadline)
}

// AcquireSlice is AcquireUntil for callers that must regain control now
// and then while they wait, such as an interpreter that runs signal
// handlers: at sliceEnd (absolute CLOCK_MONOTONIC ns) it returns
// ErrSliceEnded with the wait still queued, keeping its place (a queued
// writer keeps blocking new readers). Calling it again for the same owner
// and mode resumes the wait; Cancel withdraws it; a
// Release or acquire in the other mode by the owner withdraws it too. At
// the deadline it returns ErrTimeout, withdrawn.
func (l *Lock) AcquireSlice(o Owner, m Mode, deadline, sliceEnd int64) error {
	return l.acquireWait(o, m, waitCtl{deadline: deadline, sliceEnd: sliceEnd})
}

// AcquireContext is Acquire that waits until ctx is done. A cancelled wait
// returns an error matching both ErrInterrupted and ctx.Err(); if ctx has a
// deadline, reaching it returns ErrTimeout as well as ctx.Err().
func (l *Lock) AcquireContext(ctx context.Context, o Owner, m Mode) error {
	dl := int64(-1)
	if d, ok := ctx.Deadline(); ok {
		dl = MonotonicNow() + int64(time.Until(d))
		if dl <= 0 {
			dl = 1
		}
	}
	return l.acquire(ctx, o, m, dl)
}

// Release drops owner o's hold, whatever its mode. A recursive read hold is
// dropped one level at a time. Without a hold it returns ErrNotHeld; if
// another process recovered the hold (it judged the owner dead) it returns
// ErrLost. Releasing a write hold whose acquire returned ErrOwnerDead
// vouches for the data: the owner-dead mark is cleared.
func (l *Lock) Release(o Owner) error { return l.release(o, false) }

// ReleaseUnrepaired is Release for an owner that was told ErrOwnerDead
// but did not repair the data (it gave up, or could not pass the news on):
// the owner-dead mark stays for the next writer.
func (l *Lock) ReleaseUnrepaired(o Owner) error { return l.release(o, true) }

// Downgrade turns owner o's write hold into a read hold atomically: no
// writer can get in between, and readers waiting behind the writer are
// admitted with it. Without a write hold it returns ErrNotHeld.
func (l *Lock) Downgrade(o Owner) error { return l.downgrade(o) }

// Capacity returns the lock's capacity, chosen by its creator: the number
// of owners that may hold or wait at once, and of processes that may have
// it open. It reads nothing from shared memory. A remote lock has no
// limit: 0.
func (l *Lock) Capacity() int {
	if l.remote != nil {
		return 0
	}
	return l.seg.capacity
}

// Held reports the mode in which owner o holds the lock.
func (l *Lock) Held(o Owner) Mode { return l.held(o) }
