//go:build linux

package lock

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Linux futex operations. x/sys/unix has SYS_FUTEX but no wrapper.
const (
	futexWaitBitset = 9          // FUTEX_WAIT_BITSET: absolute CLOCK_MONOTONIC deadline
	futexWake       = 1          // FUTEX_WAKE
	futexWakeBitset = 10         // FUTEX_WAKE_BITSET
	futexBitsetAny  = 0xffffffff // FUTEX_BITSET_MATCH_ANY
)

// futexWait sleeps while *addr == val, until woken or until the absolute
// CLOCK_MONOTONIC deadline (ns; <0 none). It reports whether the deadline
// passed. Spurious returns (EINTR, EAGAIN, wake-ups) are the caller's to
// loop over; the deadline is absolute, so a signal never stretches a wait.
// The futex is shared (no FUTEX_PRIVATE_FLAG): waker and sleeper live in
// different processes. A wake whose bitset shares no bit with bits passes
// this sleeper by.
func futexWait(addr *uint32, val uint32, deadline int64, bits uint32) (timedOut bool) {
	var tsp unsafe.Pointer
	var ts unix.Timespec
	if deadline >= 0 {
		ts = unix.NsecToTimespec(deadline)
		tsp = unsafe.Pointer(&ts)
	}
	_, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWaitBitset,
		uintptr(val), uintptr(tsp), 0, uintptr(bits))
	return e == unix.ETIMEDOUT
}

// futexWakeN wakes up to n sleepers on addr.
func futexWakeN(addr *uint32, n int) {
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWake, uintptr(n), 0, 0, 0)
}

// futexWakeBits wakes the sleepers on addr whose bitset shares a bit with
// bits.
func futexWakeBits(addr *uint32, bits uint32) {
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWakeBitset, 1<<30, 0, 0, uintptr(bits))
}

var (
	monoOnce sync.Once
	monoBase int64     // CLOCK_MONOTONIC at monoT0
	monoT0   time.Time // carries Go's monotonic reading (also CLOCK_MONOTONIC)
)

// MonotonicNow returns CLOCK_MONOTONIC in nanoseconds, the clock of every
// deadline and timestamp in the protocol. It is system-wide, so values
// compare across processes. It costs no system call after the first.
func MonotonicNow() int64 {
	monoOnce.Do(func() {
		var ts unix.Timespec
		_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
		monoT0 = time.Now()
		monoBase = ts.Nano()
	})
	return monoBase + int64(time.Since(monoT0))
}

// ident identifies a process incarnation.
type ident struct {
	pid    uint32
	pstart uint64 // start time in clock ticks after boot
	pidns  uint64 // PID namespace inode
	key    uint64 // for a process judged by its key alone (liveCache)
}

var (
	selfMu  sync.Mutex
	selfVal ident
)

// self returns this process's identity, recomputed if the pid changed.
func self() ident {
	pid := uint32(os.Getpid())
	selfMu.Lock()
	defer selfMu.Unlock()
	if selfVal.pid != pid {
		selfVal = ident{pid: pid, pstart: procStart(pid), pidns: pidNamespace()}
	}
	return selfVal
}

func pidNamespace() uint64 {
	var st unix.Stat_t
	if unix.Stat("/proc/self/ns/pid", &st) != nil {
		return 0
	}
	return st.Ino
}

// procStat reads state and start time of a process from /proc. ok is false
// when the file cannot be read or parsed.
func procStat(pid uint32) (state byte, start uint64, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(pid), 10) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	return parseStat(b)
}

// parseStat reads state and start time from the contents of a stat file.
func parseStat(b []byte) (state byte, start uint64, ok bool) {
	// The command name is in parentheses and may itself contain ") ".
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0, 0, false
	}
	f := bytes.Fields(b[i+2:])
	// f[0] is field 3 (state); starttime is field 22, so f[19].
	if len(f) < 20 || len(f[0]) != 1 {
		return 0, 0, false
	}
	start, err := strconv.ParseUint(string(f[19]), 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return f[0][0], start, true
}

func procStart(pid uint32) uint64 {
	_, s, _ := procStat(pid)
	return s
}

// alive reports whether the process incarnation id may still be running
// and still maps the file dev/ino. It errs on the side of "alive": a
// process we cannot see (another PID namespace, a hidden /proc, maps we may
// not read) is never declared dead.
func alive(id ident, me ident, dev, ino uint64) bool {
	if id.pidns != me.pidns && id.pidns != 0 && me.pidns != 0 {
		return true
	}
	if id.pid == me.pid {
		return id.pstart == me.pstart || id.pstart == 0
	}
	return procAlive(id.pid, func(start uint64) bool { return id.pstart == 0 || start == id.pstart }, dev, ino)
}

// keyAlive is alive for a process key, judged from the key alone: its tag
// says the namespace and (hashed) the start time.
func keyAlive(k uint64, me ident, dev, ino uint64) bool {
	if !sameNamespace(k, me.pidns) {
		return true
	}
	if pid := keyPID(k); pid == me.pid {
		return startMatches(k, me.pstart)
	}
	return procAlive(keyPID(k), func(start uint64) bool { return startMatches(k, start) }, dev, ino)
}

// procAlive reports whether a thread group pid of our PID namespace, whose
// start time satisfies startOK, exists, has a task that has not exited, and
// maps the file dev/ino.
func procAlive(pid uint32, startOK func(uint64) bool, dev, ino uint64) bool {
	if pid == 0 || pid > 1<<22 {
		return false // no such pid can exist (pid_max is at most 2^22)
	}
	if err := unix.Kill(int(pid), 0); err == unix.ESRCH {
		return false
	}
	st, start, ok := procStat(pid)
	if !ok {
		// Exists for kill(2) but unreadable: hidepid, or it just exited. A
		// later check will see ESRCH if it is really gone.
		return true
	}
	if !startOK(start) {
		return false // the pid was reused
	}
	if (st == 'Z' || st == 'X') && !otherTaskRuns(pid) {
		// A zombie leader with threads still running is alive: that is
		// what pthread_exit on the main thread leaves.
		return false
	}
	if mapped, known := mapsFile(pid, dev, ino); known && !mapped {
		return false // it exec'd, or unmapped the segment, while holding
	}
	return true
}

// otherTaskRuns reports whether thread group pid has a task other than its
// leader that has not exited.
func otherTaskRuns(pid uint32) bool {
	dir := "/proc/" + strconv.FormatUint(uint64(pid), 10) + "/task/"
	names, err := readDirNames(dir)
	if err != nil {
		return false
	}
	for _, n := range names {
		if n == strconv.FormatUint(uint64(pid), 10) {
			continue
		}
		b, err := os.ReadFile(dir + n + "/stat")
		if err != nil {
			continue
		}
		if st, _, ok := parseStat(b); ok && st != 'Z' && st != 'X' {
			return true
		}
	}
	return false
}

func readDirNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

// mapsFile reports whether process pid maps the file dev/ino. known is
// false when its maps cannot be read (another user's process, hidepid).
func mapsFile(pid uint32, dev, ino uint64) (mapped, known bool) {
	if dev == 0 && ino == 0 {
		return false, false
	}
	b, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(pid), 10) + "/maps")
	if err != nil || len(b) == 0 {
		// An empty maps file is a process tearing down, or a kernel
		// thread: not a judgement we can make from it.
		return false, false
	}
	// Each line: "start-end perms offset major:minor inode path", device
	// numbers in hex of at least two digits.
	needle := fmt.Sprintf(" %02x:%02x %d ", unix.Major(dev), unix.Minor(dev), ino)
	return bytes.Contains(b, []byte(needle)), true
}

// stopped reports whether process pid is stopped (SIGSTOP, job control)
// or, when thread is one of its tasks, whether that thread is stopped by a
// tracer (a debugger breakpoint). Only fairness depends on the answer, never
// exclusion, so a guess is safe.
func stopped(pid uint32, thread uint64) bool {
	p := "/proc/" + strconv.FormatUint(uint64(pid), 10)
	if thread != 0 && thread < 1<<22 {
		if b, err := os.ReadFile(p + "/task/" + strconv.FormatUint(thread, 10) + "/stat"); err == nil {
			st, _, ok := parseStat(b)
			return ok && (st == 'T' || st == 't')
		}
	}
	st, _, ok := procStat(pid)
	return ok && (st == 'T' || st == 't')
}
