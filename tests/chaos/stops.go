//go:build linux

package main

// Stops, execs and the wait checks of the chaos supervisor.
//
// Stops: now and then one worker gets SIGSTOP. Once every thread of it has
// stopped it is classified from the holder tables (what it holds, what it
// only waits for), and it gets SIGCONT after a bounded time. One worker is
// stopped at a time, so stops never overlap.
//
// Execs: now and then the supervisor asks a worker to exec; the first of
// its threads to hold a lock claims the request and execs a sleeper (a
// program that knows nothing of the lock). For the accounting that is the
// death of the whole worker at the moment it decided to exec.
//
// Waits: every acquire call that lasted at least ringMinNs is recorded by
// its thread. A call is excused for the time during which the caller's own
// process, or a process holding the same lock, was stopped, and for the
// windows in which a disturbed process could block that lock although the
// engine could not yet tell: between SIGSTOP and the moment every thread
// has stopped, between SIGKILL and the reaping of a process that had a
// slot in that lock, between the decision to exec and the exec. What
// remains (the excess) is bounded by -max-wait.
//
// Stopped waiters: while a stopped process only waits for a lock (it holds
// nothing there), that lock must go on granting others: for readers and for
// writers apart, the longest time it granted none although some waited and
// no window above excused it is bounded by -waiter-bound (lock/layout.go,
// "Liveness"). A lock that merely drains a long queue slowly still grants;
// one blocked by a stopped waiter grants nothing until that waiter runs
// again. The classifier trusts layout v2 on one point: only a slot's owner
// moves it to slotRead or slotWrite, so a stopped process cannot have been
// made a holder while it slept (a v1-style direct hand-off would be excused
// as a hold).

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/prwlock/prwlock/lock"
	"golang.org/x/sys/unix"
)

// The parts of the segment layout (lock/layout.go, version 6) that the
// stop classifier reads. It reads a stopped process's holder slots as they
// are, instead of through Lock.Holders: that reports a grant not yet
// accepted as a hold, and stamps the since of the slots it looks at.
const (
	segLayoutVersion = 6
	segOffVersion    = 8
	segOffSlotSize   = 12
	segOffCapacity   = 24
	segOffState      = 64
	segOffBitmap     = 384
	segSlotSize      = 64
	segSlotCtl       = 8
	segSlotHolder    = 48
	segWriterMask    = 0x1fff
	segTagMarker     = 1 << 31

	segFree      = 0
	segRead      = 1
	segWaitRead  = 2
	segWaitWrite = 3
	segWrite     = 4
	segIdle      = 6 // kept between holds: holds and waits for nothing
	segGranted   = 5
)

// segView is a read-only mapping of one lock's segment.
type segView struct {
	b        []byte
	capacity int
	slotOff  int
}

func mapSeg(path string) (*segView, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	b, err := unix.Mmap(fd, 0, int(st.Size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	v := &segView{b: b}
	ver, ss := v.u32(segOffVersion), v.u32(segOffSlotSize)
	v.capacity = int(v.u32(segOffCapacity))
	if ver != segLayoutVersion || ss != segSlotSize || v.capacity <= 0 || v.capacity%64 != 0 {
		unix.Munmap(b)
		return nil, fmt.Errorf("%s: layout version %d (slot size %d): the stop classifier reads version %d", path, ver, ss, segLayoutVersion)
	}
	v.slotOff = (segOffBitmap + v.capacity/8 + 63) / 64 * 64
	if v.slotOff+v.capacity*segSlotSize > len(b) {
		unix.Munmap(b)
		return nil, fmt.Errorf("%s: shorter than its capacity", path)
	}
	return v, nil
}

func (v *segView) u32(off int) uint32 { return atomic.LoadUint32((*uint32)(unsafe.Pointer(&v.b[off]))) }
func (v *segView) u64(off int) uint64 { return atomic.LoadUint64((*uint64)(unsafe.Pointer(&v.b[off]))) }

// slot returns slot i's owner pid (0 if free or a recoverer's marker) and
// state.
func (v *segView) slot(i int) (pid int, state uint32) {
	off := v.slotOff + i*segSlotSize
	own := v.u64(off)
	if own == 0 || own&segTagMarker != 0 {
		return 0, segFree
	}
	return int(own >> 32), uint32(v.u64(off + segSlotCtl))
}

func waiting(state uint32) bool {
	return state == segWaitRead || state == segWaitWrite || state == segGranted
}

// classify reports what process pid holds and waits for on this lock:
// hold (a slot in slotRead, or in slotWrite owning the writer field: only
// the owner itself ever moves its slot there, so a stopped process cannot
// be made a holder behind its back), pending (a waiting writer that owns the writer field: new readers
// stay out) and wait (any other waiting slot, a grant not yet accepted
// included).
func (v *segView) classify(pid int) (hold, pending, wait bool) {
	w := int(v.u32(segOffState)&segWriterMask) - 1
	for i := 0; i < v.capacity; i++ {
		p, st := v.slot(i)
		if p != pid {
			continue
		}
		switch {
		case st == segRead || st == segWrite && i == w:
			hold = true // (slotWrite without the field: a lone writer between its steps holds nothing)
		case st == segWaitWrite && i == w:
			pending = true
		case waiting(st):
			wait = true
		}
	}
	return
}

// has reports whether process pid has a slot that holds or waits in this lock.
func (v *segView) has(pid int) bool {
	for i := 0; i < v.capacity; i++ {
		if p, st := v.slot(i); p == pid && st != segFree && st != segIdle {
			return true
		}
	}
	return false
}

// demand reports whether a process other than pid waits for this lock,
// to read and to write.
func (v *segView) demand(pid int) (read, write bool) {
	for i := 0; i < v.capacity; i++ {
		if p, st := v.slot(i); p != 0 && p != pid {
			read = read || st == segWaitRead || st == segGranted
			write = write || st == segWaitWrite
		}
	}
	return
}

// window is a time during which a process the supervisor disturbed could
// block the locks in mask without the engine being at fault.
type window struct {
	kind   string // "settle", "kill", "exec"
	t0, t1 int64  // t1 0 while open
	mask   uint64
}

func (w *window) end(now int64) int64 {
	if w.t1 == 0 {
		return now
	}
	return w.t1
}

// progress watches one lock, for one mode, during a stop of a process that
// only waits for that lock. Modes are watched apart: a stopped oldest
// waiting writer that others defer to stalls writers while readers go on.
type progress struct {
	grants uint64
	last   int64 // when it last granted, or had nobody else waiting, or was excused
	stall  int64 // the longest time it granted nothing although it should have
}

var modeNames = [2]string{"read", "write"}
var grantWord = [2]int{lRGrants, lWGrants}

// stopEvent is one SIGSTOP .. SIGCONT (or SIGKILL) of one process.
type stopEvent struct {
	pid        int
	proc       *os.Process
	lang       string
	t0, t1     int64 // CLOCK_MONOTONIC ns: SIGSTOP sent, SIGCONT (or SIGKILL) sent; t1 0 while stopped
	settledAt  int64 // every thread was seen stopped
	due        int64
	classified bool
	settled    bool
	holds      uint64 // per lock bit: held read or write
	pending    uint64 // per lock bit: a waiting writer of it owns the writer field
	waits      uint64 // per lock bit: waited for it otherwise
	long       bool   // a waiter stop made long on purpose
	watch      uint64 // locks whose progress is watched: only waited for
	prog       [maxLocks][2]progress
}

func (e *stopEvent) class() string {
	switch {
	case !e.settled:
		return "unsettled"
	case e.holds != 0:
		return "holder"
	case e.pending != 0:
		return "pending"
	case e.waits != 0:
		return "waiter"
	}
	return "idle"
}

func (e *stopEvent) end(now int64) int64 {
	if e.t1 == 0 {
		return now
	}
	return e.t1
}

// excuses reports whether the stop explains waits on lock k: the process
// held it.
func (s *sup) excuses(e *stopEvent, k int) bool {
	return e.holds&(uint64(1)<<k) != 0
}

// allStopped reports whether every thread of pid is stopped (or gone).
func allStopped(pid int) bool {
	dir := "/proc/" + strconv.Itoa(pid) + "/task/"
	names, err := readDirNames(dir)
	if err != nil {
		return true // gone
	}
	for _, n := range names {
		b, err := os.ReadFile(dir + n + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) {
			return false
		}
		switch b[i+2] {
		case 'T', 't', 'Z', 'X':
		default:
			return false
		}
	}
	return true
}

func readDirNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

// rel is a CLOCK_MONOTONIC time in seconds since the run began.
func (s *sup) rel(t int64) float64 { return float64(t-s.startMono) / 1e9 }

func (s *sup) debugf(format string, args ...any) {
	if s.debug {
		fmt.Fprintf(os.Stderr, "chaos debug %.3f: %s\n", s.rel(lock.MonotonicNow()), fmt.Sprintf(format, args...))
	}
}

func (s *sup) allLocks() uint64 { return 1<<len(s.segs) - 1 }

func (s *sup) stopsOn() bool { return s.c.stopMax > 0 }
func (s *sup) execsOn() bool { return s.c.execMax > 0 }

func (s *sup) stopPause() time.Duration { return s.randDur(s.c.stopEveryMin, s.c.stopEveryMax) }
func (s *sup) execPause() time.Duration { return s.randDur(s.c.execMin, s.c.execMax) }

func (s *sup) randDur(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(s.rng.Int64N(int64(hi-lo)+1))
}

// execAt is when a thread of worker w decided to exec (0 if none did): its
// slots no longer describe a running worker from then on.
func (s *sup) execAt(w *worker) int64 {
	var at int64
	for t := 0; t < w.n; t++ {
		if v := int64(atomic.LoadUint64(s.mem.slot(w.base+t, sExecAt))); v != 0 && (at == 0 || v < at) {
			at = v
		}
	}
	return at
}

// inside reports whether a thread of worker w is in a critical section.
func (s *sup) inside(w *worker) bool {
	for t := 0; t < w.n; t++ {
		if atomic.LoadUint64(s.mem.slot(w.base+t, sMark)) != 0 {
			return true
		}
	}
	return false
}

// slotsIn is the set of locks in which process pid has a slot.
func (s *sup) slotsIn(pid int) uint64 {
	var m uint64
	for k, v := range s.segs {
		if v.has(pid) {
			m |= 1 << k
		}
	}
	return m
}

func (s *sup) openWindow(kind string, t0 int64, mask uint64) *window {
	w := &window{kind: kind, t0: t0, mask: mask}
	s.windows = append(s.windows, w)
	return w
}

// stopOne stops a random worker; tickStop classifies it once it has
// stopped. Threads spend most of their time waiting, so half the time it
// picks a worker that is inside a critical section: stops of holders must
// happen too.
func (s *sup) stopOne() {
	var cand, holding []*worker
	for _, w := range s.workers {
		if time.Since(w.started) >= minAge[w.lang] && s.execAt(w) == 0 && w.killedAt == 0 {
			cand = append(cand, w)
			if s.inside(w) {
				holding = append(holding, w)
			}
		}
	}
	if len(holding) > 0 && (s.rng.IntN(2) == 0 || s.c.cheat == "hideholders") {
		cand = holding
	}
	if len(cand) == 0 {
		return
	}
	w := cand[s.rng.IntN(len(cand))]
	e := &stopEvent{pid: w.cmd.Process.Pid, proc: w.cmd.Process, lang: w.lang, t0: lock.MonotonicNow()}
	if err := e.proc.Signal(syscall.SIGSTOP); err != nil {
		return
	}
	s.cur = e
	s.stops = append(s.stops, e)
	s.settling = s.openWindow("settle", e.t0, s.allLocks())
}

// settleMax is how long a stopped process may take until every thread of
// it has stopped (each must run to stop: on a loaded machine that takes a
// while); past it, the stop ends unclassified.
const settleMax = 2 * time.Second

// tickStop classifies the current stop once every thread of its process
// has stopped (from then on nothing of that process changes but what
// others do to its slots), watches the locks it only waits for, and ends
// it when it is due.
func (s *sup) tickStop() {
	e := s.cur
	if e == nil {
		return
	}
	now := lock.MonotonicNow()
	if !e.classified {
		switch {
		case allStopped(e.pid):
			s.classify(e, true, now)
		case time.Duration(now-e.t0) > settleMax || mapsFile(uint32(e.pid), s.memPath) == 0:
			// Too slow, or it exec'd as it was stopped (an exec ends a
			// group stop in progress): what it holds is unknown.
			s.classify(e, false, now)
			e.due = now
		default:
			return
		}
	}
	s.watchProgress(e, now)
	if now >= e.due {
		s.endStop(syscall.SIGCONT, now)
	}
}

// classify records what the stopped process holds and waits for, and
// decides how long it stays stopped. A stop that never settled counts as
// holding every lock: what it did meanwhile is unknown.
func (s *sup) classify(e *stopEvent, settled bool, now int64) {
	e.classified, e.settled, e.settledAt = true, settled, now
	s.settling.t1 = now
	if !settled {
		e.holds = s.allLocks()
		s.debugf("stop of %s pid %d not settled within %v", e.lang, e.pid, settleMax)
		return
	}
	for k, v := range s.segs {
		h, p, wt := v.classify(e.pid)
		if s.c.cheat == "hideholders" && h {
			// Self-test: call every holder a mere waiter, as an engine that
			// let a stopped waiter block others would look.
			h, wt = false, true
		}
		if h {
			e.holds |= 1 << k
		}
		if p {
			e.pending |= 1 << k
		}
		if wt {
			e.waits |= 1 << k
		}
	}
	e.watch = (e.waits | e.pending) &^ e.holds
	for k := range s.segs {
		for m := range grantWord {
			e.prog[k][m] = progress{grants: atomic.LoadUint64(s.mem.lockw(k, grantWord[m])), last: now}
		}
	}
	d := s.randDur(s.c.stopMin, s.c.stopMax)
	if e.holds == 0 && e.watch == e.waits|e.pending && s.c.waiterStop > 0 && (s.rng.IntN(3) != 0 || s.c.cheat == "hideholders") {
		// It holds nothing: keeping it stopped longer than the waiter
		// bound must not hold anyone up.
		d, e.long = s.c.waiterStop, true
	}
	e.due = e.t0 + int64(d)
	s.debugf("stop of %s pid %d settled after %v: %s (holds %b, pending %b, waits %b), for %v",
		e.lang, e.pid, time.Duration(now-e.t0), e.class(), e.holds, e.pending, e.waits, d)
}

// watchProgress updates the progress of the locks the stopped process
// only waits for: a lock is excused while nobody else waits for it, or
// while a disturbed process with a slot in it may block it.
func (s *sup) watchProgress(e *stopEvent, now int64) {
	if !e.settled {
		return
	}
	for k, v := range s.segs {
		if e.watch&(1<<k) == 0 {
			continue
		}
		dr, dw := v.demand(e.pid)
		demand := [2]bool{dr, dw}
		dist := s.disturbed(k)
		for m := range grantWord {
			p := &e.prog[k][m]
			g := atomic.LoadUint64(s.mem.lockw(k, grantWord[m]))
			if g != p.grants || !demand[m] || dist {
				p.grants, p.last = g, now
				continue
			}
			if st := now - p.last; st > p.stall {
				p.stall = st
			}
		}
	}
}

// disturbed reports whether an open kill or exec window covers lock k.
func (s *sup) disturbed(k int) bool {
	for i := len(s.windows) - 1; i >= 0; i-- {
		if w := s.windows[i]; w.t1 == 0 && w.kind != "settle" && w.mask&(1<<k) != 0 {
			return true
		}
	}
	return false
}

// endStop ends the current stop: SIGCONT, or SIGKILL by killOne (the
// signal was sent at now).
func (s *sup) endStop(sig syscall.Signal, now int64) {
	e := s.cur
	if e == nil {
		return
	}
	if !e.classified {
		s.classify(e, allStopped(e.pid), now)
	}
	s.watchProgress(e, now)
	if sig == syscall.SIGCONT {
		e.proc.Signal(syscall.SIGCONT)
		now = lock.MonotonicNow()
		s.lateCont = max(s.lateCont, now-e.due)
	}
	e.t1 = now
	s.cur = nil
	for k := range s.segs {
		if e.watch&(1<<k) == 0 {
			continue
		}
		s.stallsWatched++
		for m := range grantWord {
			st := e.prog[k][m].stall
			s.longestStall = max(s.longestStall, st)
			if time.Duration(st) > s.c.waiterBound {
				s.stallFails = append(s.stallFails, fmt.Sprintf("lock %d granted nothing to %s for %v, others waiting to %s, while %s pid %d was stopped and only waited for it (%s, from +%.3f s, bound %v)",
					k, modeNames[m]+"ers", time.Duration(st), modeNames[m], e.lang, e.pid, e.class(), s.rel(e.t0), s.c.waiterBound))
			}
		}
	}
}

// requestExec asks a random killable worker to exec while it holds.
func (s *sup) requestExec() {
	var cand []*worker
	for _, w := range s.workers {
		if !w.immune && w.killedAt == 0 && time.Since(w.started) >= minAge[w.lang] && s.execAt(w) == 0 &&
			atomic.LoadUint64(s.mem.execReq(w.base)) == 0 && (s.cur == nil || s.cur.pid != w.cmd.Process.Pid) {
			cand = append(cand, w)
		}
	}
	if len(cand) == 0 {
		return
	}
	w := cand[s.rng.IntN(len(cand))]
	ms := s.randDur(s.c.execSleepMin, s.c.execSleepMax) / time.Millisecond
	atomic.StoreUint64(s.mem.execReq(w.base), uint64(max(ms, 1)))
}

// checkExecs follows the workers that decided to exec: from the decision
// until the exec is done the process may block any lock (its threads are
// being torn down); once its process no longer maps the scratch memory,
// the worker is accounted as dead from the decision, and replaced. The
// sleeper is reaped later.
func (s *sup) checkExecs() {
	for _, w := range s.workers {
		at := s.execAt(w)
		if w.killedAt != 0 || at == 0 {
			continue
		}
		if w.execWin == nil {
			w.execWin = s.openWindow("exec", at, s.allLocks())
		}
		if mapsFile(uint32(w.cmd.Process.Pid), s.memPath) == 1 {
			continue
		}
		select {
		case <-w.done:
			continue // exited: checkExits decides
		default:
		}
		s.debugf("%s pid %d exec'd (decided at +%.3f s)", w.lang, w.cmd.Process.Pid, s.rel(at))
		s.sleepers = append(s.sleepers, &sleeper{lang: w.lang, idx: w.idx, cmd: w.cmd, done: w.done})
		s.harvest(w, 0)
		if err := s.spawn(w); err != nil {
			s.unexpected = append(s.unexpected, err.Error())
		}
	}
}

// sleeper is the program a worker exec'd, until it exits.
type sleeper struct {
	lang string
	idx  int
	cmd  *exec.Cmd
	done chan struct{}
}

// reapSleepers checks the sleepers that have exited. At the end (all) the
// others are killed: they have served their purpose.
func (s *sup) reapSleepers(all bool) {
	keep := s.sleepers[:0]
	for _, sl := range s.sleepers {
		select {
		case <-sl.done:
			if !sl.cmd.ProcessState.Success() {
				s.unexpected = append(s.unexpected, fmt.Sprintf("%s worker %d: the program it exec'd exited with %v", sl.lang, sl.idx, sl.cmd.ProcessState))
			}
		default:
			if all {
				sl.cmd.Process.Signal(syscall.SIGCONT)
				sl.cmd.Process.Kill()
				<-sl.done
			} else {
				keep = append(keep, sl)
			}
		}
	}
	s.sleepers = keep
}

// waitRec is one long acquire call.
type waitRec struct {
	pid        int
	lock       int
	write      bool
	outcome    int
	start, end int64
}

// drain moves the long acquire calls recorded by worker w's threads into
// s.waits. A ring that lapped loses records; they are counted.
func (s *sup) drain(w *worker) {
	pid := w.cmd.Process.Pid
	for t := 0; t < w.n; t++ {
		sl := w.base + t
		h := atomic.LoadUint64(s.mem.slot(sl, sRingHead))
		tail := s.ringTail[sl]
		if h-tail > ringLen {
			s.ringLost += h - tail - ringLen
			tail = h - ringLen
		}
		first := len(s.waits)
		for i := tail; i < h; i++ {
			info := atomic.LoadUint64(s.mem.ring(sl, int(i), rInfo))
			s.waits = append(s.waits, waitRec{
				pid: pid, lock: int(info & 0xff), write: info>>8&1 != 0, outcome: int(info >> 16 & 0xff),
				start: int64(atomic.LoadUint64(s.mem.ring(sl, int(i), rStart))),
				end:   int64(atomic.LoadUint64(s.mem.ring(sl, int(i), rEnd))),
			})
		}
		// Entries the thread may have overwritten while we read them.
		if h2 := atomic.LoadUint64(s.mem.slot(sl, sRingHead)); h2-tail > ringLen {
			n := min(h2-tail-ringLen, h-tail)
			s.ringLost += n
			s.waits = append(s.waits[:first], s.waits[first+int(n):]...)
		}
		s.ringTail[sl] = h
	}
}

// span is a time interval.
type span struct{ a, b int64 }

// union is the total length of spans (they may overlap).
func union(sp []span) int64 {
	sort.Slice(sp, func(i, j int) bool { return sp[i].a < sp[j].a })
	var total, end int64
	for i, x := range sp {
		if i == 0 || x.a > end {
			total += x.b - x.a
			end = x.b
		} else if x.b > end {
			total += x.b - end
			end = x.b
		}
	}
	return total
}

// charge splits an acquire call on lock k by process pid, from a to b:
// held is the time a process holding lock k was stopped (stops never
// overlap, so these add up); excused is the time covered by that, by the
// caller's own stops, and by the windows of disturbed processes that may
// block lock k.
func (s *sup) charge(pid, k int, a, b, now int64) (excused, held int64) {
	var sp []span
	add := func(t0, t1 int64) {
		if t1 > a && t0 < b {
			sp = append(sp, span{max(a, t0), min(b, t1)})
		}
	}
	// Stops are in time order: walk back from the last.
	for i := len(s.stops) - 1; i >= 0; i-- {
		e := s.stops[i]
		t1 := e.end(now)
		if t1 <= a {
			break
		}
		if e.pid == pid || s.excuses(e, k) {
			add(e.t0, t1)
			if e.pid != pid && t1 > a && e.t0 < b {
				held += min(b, t1) - max(a, e.t0)
			}
		}
	}
	for _, w := range s.windows {
		if w.mask&(1<<k) != 0 {
			add(w.t0, w.end(now))
		}
	}
	return union(sp), held
}

// waitFigures are the results of the wait checks.
type waitFigures struct {
	records       int
	longestExcess int64 // beyond what stops and disturbed processes explain
	longestHeld   int64 // the longest part of a call explained by stopped holders
	heldRaw       int64 // ... and that call's length
}

func (s *sup) checkWaits(failf func(string, ...any)) waitFigures {
	var f waitFigures
	now := lock.MonotonicNow()
	reported := 0
	for _, r := range s.waits {
		f.records++
		excused, held := s.charge(r.pid, r.lock, r.start, r.end, now)
		d := r.end - r.start
		excess := d - excused
		f.longestExcess = max(f.longestExcess, excess)
		if held > f.longestHeld {
			f.longestHeld, f.heldRaw = held, d
		}
		if time.Duration(excess) > s.c.maxWait {
			if reported++; reported <= 5 {
				failf("an acquire call on lock %d (pid %d, write %v, at +%.3f s) took %v, %v beyond stops and disturbed processes (bound %v)",
					r.lock, r.pid, r.write, s.rel(r.start), time.Duration(d), time.Duration(excess), s.c.maxWait)
			}
		}
	}
	for _, m := range s.stallFails {
		failf("%s", m)
	}
	if s.ringLost != 0 {
		failf("%d long acquire calls were lost from the records (the supervisor fell behind)", s.ringLost)
	}
	return f
}

// stopFigures summarises the stops.
func (s *sup) stopFigures() string {
	n := map[string]int{}
	var long int
	var longest int64
	now := lock.MonotonicNow()
	for _, e := range s.stops {
		n[e.class()]++
		if e.long {
			long++
		}
		longest = max(longest, e.end(now)-e.t0)
	}
	return fmt.Sprintf("stops %d (holders %d, pending writers %d, waiters %d, idle %d, unclassified %d; %d made long), longest %.3f s, SIGCONT at most %.3f s late",
		len(s.stops), n["holder"], n["pending"], n["waiter"], n["idle"], n["unsettled"], long, float64(longest)/1e9, float64(s.lateCont)/1e9)
}

// dumpSlots prints what pid has in the holder tables (debug).
func (s *sup) dumpSlots(pid int, when string) {
	if !s.debug {
		return
	}
	names := []string{"free", "read", "waitread", "waitwrite", "write", "granted", "idle"}
	var b strings.Builder
	for k, v := range s.segs {
		w := int(v.u32(segOffState)&segWriterMask) - 1
		for i := 0; i < v.capacity; i++ {
			p, st := v.slot(i)
			if p != pid || st == segFree {
				continue
			}
			n := "?"
			if int(st) < len(names) {
				n = names[st]
			}
			if i == w {
				n += "+field"
			}
			fmt.Fprintf(&b, " L%d:%s(tid %d)", k, n, v.u64(v.slotOff+i*segSlotSize+segSlotHolder))
		}
	}
	s.debugf("slots of pid %d %s:%s", pid, when, b.String())
}
