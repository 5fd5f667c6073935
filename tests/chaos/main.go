//go:build linux

// Command chaos is the supervisor of the chaos test, and its Go worker.
//
//	chaos run [flags]     start mixed C, Go and Python workers on a few
//	                      named locks, SIGKILL and restart them, SIGSTOP
//	                      and SIGCONT them, and make them exec while they
//	                      hold, at random; then check what must hold (see
//	                      docs/RELIABILITY.md)
//	chaos worker ARGS...  the Go worker (started by run)
//	chaos sleep DURATION  what a Go worker execs while it holds
//
// The exit status is 0 only if every check passed.
package main

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"

	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prwlock/prwlock/lock"
	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "worker" {
		os.Exit(goWorker(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "sleep" {
		os.Exit(sleepMode(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "run" {
		os.Exit(supervise(os.Args[2:]))
	}
	fmt.Fprintln(os.Stderr, "usage: chaos run [flags] | chaos worker ARGS...")
	os.Exit(2)
}

func atomic64Store(p *uint64, v uint64) { atomic.StoreUint64(p, v) }

type config struct {
	duration     time.Duration
	procs        int
	threads      int
	pyThreads    int
	nlocks       int
	immune       int
	killMin      time.Duration
	killMax      time.Duration
	maxWait      time.Duration
	stopMin      time.Duration
	stopMax      time.Duration
	stopEveryMin time.Duration
	stopEveryMax time.Duration
	waiterStop   time.Duration
	waiterBound  time.Duration
	execMin      time.Duration
	execMax      time.Duration
	execSleepMin time.Duration
	execSleepMax time.Duration
	minOps       uint64
	sampleEvery  time.Duration
	cworker      string
	python       string
	pyworker     string
	cslib        string
	seed         uint64
	rssGrowthMiB float64
	cheat        string
	expectFail   string
}

// minAge is how long a worker must have run before it is killed, stopped
// or asked to exec: long enough to be doing operations.
var minAge = map[string]time.Duration{"c": 30 * time.Millisecond, "go": 30 * time.Millisecond, "py": 400 * time.Millisecond}

type worker struct {
	idx, base, n int
	lang         string
	immune       bool
	cmd          *exec.Cmd
	started      time.Time
	done         chan struct{}
	spawns       int
	killedAt     int64 // CLOCK_MONOTONIC ns of the SIGKILL not yet reaped, else 0
	killWin      *window
	execWin      *window
	slowDeath    bool // reported: not reaped within 10 s of its SIGKILL
}

type totals struct {
	ops, reads, writes, downs, viol, odobs, fails, errs uint64
	maxWait                                             uint64
	byLang                                              map[string]uint64
}

type sample struct {
	at      time.Duration
	rss     map[string]int64 // kB, per survivor and the supervisor
	fds     map[string]int
	shm     int // this run's files
	shmAll  int // every prwlock file
	ops     uint64
	kills   int
	recover uint64
}

func supervise(args []string) int {
	var c config
	fs := flag.NewFlagSet("chaos run", flag.ExitOnError)
	fs.DurationVar(&c.duration, "duration", 25*time.Second, "how long to run")
	fs.IntVar(&c.procs, "procs", 9, "worker processes (C, Go and Python in turn)")
	fs.IntVar(&c.threads, "threads", 4, "threads per C or Go worker")
	fs.IntVar(&c.pyThreads, "py-threads", 3, "threads per Python worker")
	fs.IntVar(&c.nlocks, "locks", 3, "shared named locks")
	fs.IntVar(&c.immune, "survivors", 3, "workers never killed (one per language first); their RSS and fds are sampled")
	fs.DurationVar(&c.killMin, "kill-min", 20*time.Millisecond, "shortest pause between kills")
	fs.DurationVar(&c.killMax, "kill-max", 250*time.Millisecond, "longest pause between kills")
	fs.DurationVar(&c.maxWait, "max-wait", 2*time.Second, "longest acquire call allowed, beyond the time its own process or a holder of the lock was stopped")
	fs.DurationVar(&c.stopMin, "stop-min", 50*time.Millisecond, "shortest SIGSTOP")
	fs.DurationVar(&c.stopMax, "stop-max", 500*time.Millisecond, "longest SIGSTOP of a process that holds a lock (0: no stops)")
	fs.DurationVar(&c.stopEveryMin, "stop-every-min", 100*time.Millisecond, "shortest pause between stops (one process is stopped at a time)")
	fs.DurationVar(&c.stopEveryMax, "stop-every-max", 600*time.Millisecond, "longest pause between stops")
	fs.DurationVar(&c.waiterStop, "waiter-stop", 1500*time.Millisecond, "two stops in three of processes that hold nothing last this long (0: never)")
	fs.DurationVar(&c.waiterBound, "waiter-bound", time.Second, "longest an acquire call may be held up, beyond stopped holders, while a stopped process only waited for the same lock")
	fs.DurationVar(&c.execMin, "exec-min", 500*time.Millisecond, "shortest pause between requests to exec while holding")
	fs.DurationVar(&c.execMax, "exec-max", 2500*time.Millisecond, "longest pause between requests to exec (0: no execs)")
	fs.DurationVar(&c.execSleepMin, "exec-sleep-min", 200*time.Millisecond, "shortest life of the program a worker execs")
	fs.DurationVar(&c.execSleepMax, "exec-sleep-max", 3*time.Second, "longest life of the program a worker execs")
	fs.Uint64Var(&c.minOps, "min-ops", 20000, "fail with fewer completed critical sections")
	fs.DurationVar(&c.sampleEvery, "sample", 5*time.Second, "RSS/fd/shm sampling interval")
	fs.StringVar(&c.cworker, "cworker", "", "C worker binary")
	fs.StringVar(&c.python, "python", "python3", "Python interpreter with prwlock importable")
	fs.StringVar(&c.pyworker, "pyworker", "", "worker.py")
	fs.StringVar(&c.cslib, "cslib", "", "libchaoscs.so for the Python worker")
	fs.Uint64Var(&c.seed, "seed", uint64(time.Now().UnixNano()), "random seed")
	fs.Float64Var(&c.rssGrowthMiB, "rss-growth", 16, "largest RSS growth (MiB) of a survivor after warm-up")
	fs.StringVar(&c.cheat, "cheat", "", "self-test: Go workers cheat (nolock: write without the lock now and then; fakedead: claim owner-dead now and then), or the supervisor does (hideholders: call stopped holders mere waiters)")
	fs.StringVar(&c.expectFail, "expect-fail", "", "self-test: pass only if the run fails with a message containing this")
	fs.Parse(args)
	if c.cworker == "" || c.pyworker == "" || c.cslib == "" {
		fmt.Fprintln(os.Stderr, "chaos: -cworker, -pyworker and -cslib are required")
		return 2
	}
	if c.nlocks < 1 || c.nlocks > maxLocks || (c.procs*8+1) > maxSlots {
		fmt.Fprintln(os.Stderr, "chaos: too many locks or processes")
		return 2
	}
	runtime.LockOSThread()
	s := &sup{c: c, rng: rand.New(rand.NewPCG(c.seed, 0x5eed)), debug: os.Getenv("CHAOS_DEBUG") != ""}
	fmt.Printf("chaos: seed %d, %v, %d workers, %d locks\n", c.seed, c.duration, c.procs, c.nlocks)
	err := s.run()
	s.cleanup()
	if c.expectFail != "" {
		if err != nil && strings.Contains(err.Error(), c.expectFail) {
			fmt.Printf("chaos: self-test PASS: the cheat was caught (%q)\n", c.expectFail)
			return 0
		}
		fmt.Fprintf(os.Stderr, "chaos: self-test FAIL: want a failure mentioning %q, got %v\n", c.expectFail, err)
		return 1
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos: FAIL:", err)
		return 1
	}
	fmt.Println("chaos: PASS")
	return 0
}

type sup struct {
	c          config
	rng        *rand.Rand
	mem        *chaosMem
	memPath    string
	names      []string
	locks      []*lock.Lock
	workers    []*worker
	tot        totals
	kills      int
	wkills     [][]int64 // per lock: kill times of processes in a write phase
	writeKills int
	unexpected []string
	stuck      []string
	samples    []sample
	start      time.Time
	startMono  int64
	supSlot    int
	nextSeed   uint64

	debug    bool         // CHAOS_DEBUG set: narrate stops, kills and execs
	segs     []*segView   // read-only views of the locks, for the stop classifier
	stops    []*stopEvent // in time order; never overlapping
	cur      *stopEvent   // the stop in progress
	settling *window      // cur's window until it is classified
	windows  []*window    // disturbed processes that may block locks
	lateCont int64        // the latest SIGCONT, after its due time

	stallsWatched int // (stop, lock) pairs watched for progress
	longestStall  int64
	stallFails    []string
	execs         int // workers that exec'd while holding
	execWrites    int // ... holding write
	sleepers      []*sleeper
	waits         []waitRec // long acquire calls
	ringTail      [maxSlots]uint64
	ringLost      uint64
}

func (s *sup) cleanup() {
	s.endStop(syscall.SIGCONT, lock.MonotonicNow())
	s.reapSleepers(true)
	for _, w := range s.workers {
		if w.cmd != nil && w.cmd.Process != nil {
			select {
			case <-w.done:
			default:
				w.cmd.Process.Kill()
				<-w.done
			}
		}
	}
	for i, l := range s.locks {
		l.Close()
		lock.Unlink(s.names[i])
	}
	for _, v := range s.segs {
		unix.Munmap(v.b)
	}
	if s.mem != nil {
		unix.Munmap(s.mem.b)
	}
	if s.memPath != "" {
		os.Remove(s.memPath)
	}
}

func (s *sup) run() error {
	pid := os.Getpid()
	s.memPath = fmt.Sprintf("%s/prwlock-chaos.%d", lock.ShmDir, pid)
	m, err := createMem(s.memPath, s.c.nlocks)
	if err != nil {
		s.memPath = ""
		return err
	}
	s.mem = m
	s.supSlot = s.c.procs * 8
	atomic.StoreUint64(m.w(hNSlots), uint64(s.supSlot+1))
	s.wkills = make([][]int64, s.c.nlocks)
	for k := 0; k < s.c.nlocks; k++ {
		name := fmt.Sprintf("chaos-%d-%d", pid, k)
		l, err := lock.Open(name, lock.Options{Create: true, Exclusive: true})
		if err != nil {
			return err
		}
		s.names = append(s.names, name)
		s.locks = append(s.locks, l)
		v, err := mapSeg(l.Path())
		if err != nil {
			return err
		}
		s.segs = append(s.segs, v)
	}
	s.tot.byLang = map[string]uint64{}
	langs := []string{"c", "go", "py"}
	for i := 0; i < s.c.procs; i++ {
		w := &worker{idx: i, base: i * 8, lang: langs[i%3], immune: i < s.c.immune, n: s.c.threads}
		if w.lang == "py" {
			w.n = s.c.pyThreads
		}
		s.workers = append(s.workers, w)
		if err := s.spawn(w); err != nil {
			return err
		}
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	s.start = time.Now()
	s.startMono = lock.MonotonicNow()
	end := s.start.Add(s.c.duration)
	nextKill := time.Now().Add(s.killPause())
	nextStop := time.Now().Add(s.stopPause())
	nextExec := time.Now().Add(s.execPause())
	nextSample := time.Now().Add(s.c.sampleEvery)
	interrupted := false
	for time.Now().Before(end) && !interrupted {
		select {
		case <-sigs:
			interrupted = true
		case <-time.After(10 * time.Millisecond):
		}
		s.checkExits()
		s.checkExecs()
		s.reapSleepers(false)
		for _, w := range s.workers {
			s.drain(w)
		}
		s.checkStuck()
		if time.Now().After(nextKill) {
			s.killOne()
			nextKill = time.Now().Add(s.killPause())
		}
		if s.cur != nil {
			if s.tickStop(); s.cur == nil {
				nextStop = time.Now().Add(s.stopPause())
			}
		} else if s.stopsOn() && time.Now().After(nextStop) {
			s.stopOne()
			nextStop = time.Now().Add(s.stopPause()) // in case none was stopped
		}
		if s.execsOn() && time.Now().After(nextExec) {
			s.requestExec()
			nextExec = time.Now().Add(s.execPause())
		}
		if time.Now().After(nextSample) {
			s.takeSample()
			nextSample = nextSample.Add(s.c.sampleEvery)
		}
	}
	s.takeSample()
	// Stop: every worker finishes its operation and exits. None may be left
	// stopped, and a request to exec that nobody claimed is withdrawn.
	s.endStop(syscall.SIGCONT, lock.MonotonicNow())
	for _, w := range s.workers {
		atomic.StoreUint64(s.mem.execReq(w.base), 0)
	}
	atomic.StoreUint64(m.w(hStop), 1)
	deadline := time.After(20 * time.Second)
	for _, w := range s.workers {
		select {
		case <-w.done:
			s.reaped(w, true)
		case <-deadline:
			s.stuck = append(s.stuck, fmt.Sprintf("%s worker %d (pid %d) did not stop within 20 s", w.lang, w.idx, w.cmd.Process.Pid))
			w.cmd.Process.Kill()
			<-w.done
			s.harvest(w, 0)
		}
	}
	s.reapSleepers(true)
	return s.verify(interrupted)
}

func (s *sup) killPause() time.Duration {
	return s.c.killMin + time.Duration(s.rng.Int64N(int64(s.c.killMax-s.c.killMin)+1))
}

func (s *sup) spawn(w *worker) error {
	s.nextSeed++
	seed := strconv.FormatUint(s.c.seed*1000003+s.nextSeed, 10)
	common := []string{s.memPath, strconv.Itoa(w.base), strconv.Itoa(w.n), seed}
	common = append(common, s.names...)
	var cmd *exec.Cmd
	switch w.lang {
	case "c":
		cmd = exec.Command(s.c.cworker, common...)
	case "go":
		self, _ := os.Executable()
		cmd = exec.Command(self, append([]string{"worker"}, common...)...)
		if s.c.cheat != "" {
			cmd.Env = append(os.Environ(), "CHAOS_CHEAT="+s.c.cheat)
		}
	default:
		cmd = exec.Command(s.c.python, append([]string{s.c.pyworker, s.c.cslib}, common...)...)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s worker: %w", w.lang, err)
	}
	w.cmd, w.started, w.done = cmd, time.Now(), make(chan struct{})
	w.killedAt, w.slowDeath, w.killWin, w.execWin = 0, false, nil, nil
	w.spawns++
	done := w.done
	go func() { cmd.Wait(); close(done) }()
	return nil
}

// harvest adds a finished worker's counters to the totals and clears its
// slots. killed is the time of the kill (0 if it exited by itself): a
// thread that was in a write phase then may have died holding write. A
// worker that exec'd died when it decided to, if that was earlier.
func (s *sup) harvest(w *worker, killed int64) {
	m := s.mem
	s.drain(w)
	if w.execWin != nil {
		w.execWin.t1 = lock.MonotonicNow()
	}
	if at := s.execAt(w); at != 0 {
		s.execs++
		for t := 0; t < w.n; t++ {
			if atomic.LoadUint64(m.slot(w.base+t, sExecAt)) == uint64(at) && atomic.LoadUint64(m.slot(w.base+t, sWPhase)) != 0 {
				s.execWrites++
			}
		}
		if killed == 0 || at < killed {
			killed = at
		}
	}
	lockedWrite := map[int]bool{}
	for t := 0; t < w.n; t++ {
		sl := w.base + t
		get := func(f int) uint64 { return atomic.LoadUint64(m.slot(sl, f)) }
		ops := get(sOps)
		s.tot.ops += ops
		s.tot.byLang[w.lang] += ops
		s.tot.reads += get(sReads)
		s.tot.writes += get(sWrites)
		s.tot.downs += get(sDowngrades)
		s.tot.viol += get(sViol)
		s.tot.odobs += get(sODObs)
		s.tot.fails += get(sFails)
		s.tot.errs += get(sErrs)
		if mw := get(sMaxWait); mw > s.tot.maxWait {
			s.tot.maxWait = mw
		}
		if wp := get(sWPhase); wp != 0 {
			if killed == 0 {
				s.unexpected = append(s.unexpected, fmt.Sprintf("%s worker %d slot %d exited in a write phase", w.lang, w.idx, sl))
			} else if int(wp) <= s.c.nlocks {
				lockedWrite[int(wp)-1] = true
			}
		}
		for f := 0; f < slotSize; f += 8 {
			atomic.StoreUint64(m.slot(sl, f), 0)
		}
		s.ringTail[sl] = 0
	}
	for k := range lockedWrite {
		s.wkills[k] = append(s.wkills[k], killed)
		s.writeKills++
	}
}

// killOne SIGKILLs a random killable worker. It is reaped, accounted and
// replaced by checkExits: a dying process can take seconds to be reaped on
// a loaded machine, and the loop must not wait (stops would overrun).
func (s *sup) killOne() {
	var cand []*worker
	for _, w := range s.workers {
		if w.killedAt != 0 {
			return // one death at a time, as when kills were reaped at once
		}
	}
	for _, w := range s.workers {
		if !w.immune && time.Since(w.started) >= minAge[w.lang] && s.execAt(w) == 0 {
			cand = append(cand, w)
		}
	}
	if len(cand) == 0 {
		return
	}
	w := cand[s.rng.IntN(len(cand))]
	t := lock.MonotonicNow()
	pid := w.cmd.Process.Pid
	w.cmd.Process.Signal(syscall.SIGKILL)
	w.killedAt = t
	// Until it is reaped, it may block the locks it had a slot in: a
	// dying process is not dead yet.
	w.killWin = s.openWindow("kill", t, s.slotsIn(pid))
	s.debugf("SIGKILL %s pid %d (slots in locks %b)", w.lang, pid, w.killWin.mask)
	if s.cur != nil && s.cur.pid == pid {
		s.endStop(syscall.SIGKILL, t)
	}
}

// reaped accounts for worker w, whose process has exited: killed, exec'd
// (what it exec'd exited cleanly before we saw it exec), stopped at the end
// of the run (atEnd), or unexpectedly.
func (s *sup) reaped(w *worker, atEnd bool) {
	if w.killedAt != 0 {
		s.kills++
		w.killWin.t1 = lock.MonotonicNow()
		s.harvest(w, w.killedAt)
		return
	}
	if s.cur != nil && s.cur.pid == w.cmd.Process.Pid {
		s.endStop(0, lock.MonotonicNow())
	}
	ok := w.cmd.ProcessState.Success() && (atEnd || s.execAt(w) != 0)
	if !ok {
		when := "by itself"
		if atEnd {
			when = "on stop"
		}
		s.unexpected = append(s.unexpected, fmt.Sprintf("%s worker %d exited %s: %v", w.lang, w.idx, when, w.cmd.ProcessState))
	}
	s.harvest(w, 0)
}

func (s *sup) checkExits() {
	now := lock.MonotonicNow()
	for _, w := range s.workers {
		select {
		case <-w.done:
			s.reaped(w, false)
			if err := s.spawn(w); err != nil {
				s.unexpected = append(s.unexpected, err.Error())
			}
		default:
			if w.killedAt != 0 && !w.slowDeath && time.Duration(now-w.killedAt) > 10*time.Second {
				w.slowDeath = true
				s.unexpected = append(s.unexpected, fmt.Sprintf("%s worker %d did not die within 10 s of SIGKILL", w.lang, w.idx))
			}
		}
	}
}

// checkStuck looks for acquire calls that have been waiting too long,
// beyond what stops and disturbed processes explain (see charge).
// A worker that decided to exec is skipped: its threads vanish mid-call.
func (s *sup) checkStuck() {
	now := lock.MonotonicNow()
	for _, w := range s.workers {
		if s.execAt(w) != 0 || w.killedAt != 0 {
			continue
		}
		for t := 0; t < w.n; t++ {
			ws := int64(atomic.LoadUint64(s.mem.slot(w.base+t, sWaitStart)))
			if ws == 0 || time.Duration(now-ws) <= s.c.maxWait {
				continue
			}
			k := int(atomic.LoadUint64(s.mem.slot(w.base+t, sWaitInfo)) & 0xff)
			if excused, _ := s.charge(w.cmd.Process.Pid, k, ws, now, now); time.Duration(now-ws-excused) > s.c.maxWait {
				msg := fmt.Sprintf("%s worker %d (pid %d) thread %d waiting for %v on lock %d", w.lang, w.idx, w.cmd.Process.Pid, t, time.Duration(now-ws), k)
				s.stuck = append(s.stuck, msg)
				fmt.Fprintln(os.Stderr, "chaos: STUCK:", msg)
				s.dumpLocks()
				// Report each wait once.
				atomic.StoreUint64(s.mem.slot(w.base+t, sWaitStart), 0)
			}
		}
	}
}

func (s *sup) dumpLocks() {
	for k, l := range s.locks {
		st, _ := l.Stats()
		hs, _ := l.Holders()
		fmt.Fprintf(os.Stderr, "chaos: lock %d: %+v\n  holders %+v\n", k, st, hs)
	}
}

func (s *sup) recoveries() (rec, deaths uint64) {
	for _, l := range s.locks {
		st, _ := l.Stats()
		rec += st.Recoveries
		deaths += st.OwnerDeaths
	}
	return
}

func procRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				v, _ := strconv.ParseInt(f[1], 10, 64)
				return v
			}
		}
	}
	return -1
}

func procFDs(pid int) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(ents)
}

// shmCount counts this run's files in /dev/shm (other suites may run at
// the same time) and all prwlock files.
func shmCount() (mine, all int) {
	ents, _ := os.ReadDir(lock.ShmDir)
	pid := strconv.Itoa(os.Getpid())
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, "prwlock") {
			continue
		}
		all++
		if strings.HasPrefix(n, "prwlock-chaos."+pid) || strings.HasPrefix(n, lock.NamePrefix+"chaos-"+pid+"-") {
			mine++
		}
	}
	return
}

func (s *sup) takeSample() {
	smp := sample{at: time.Since(s.start), rss: map[string]int64{}, fds: map[string]int{}, kills: s.kills}
	smp.shm, smp.shmAll = shmCount()
	smp.recover, _ = s.recoveries()
	var ops uint64
	for _, w := range s.workers {
		for t := 0; t < w.n; t++ {
			ops += atomic.LoadUint64(s.mem.slot(w.base+t, sOps))
		}
		if w.immune {
			key := fmt.Sprintf("%s%d", w.lang, w.idx)
			smp.rss[key] = procRSS(w.cmd.Process.Pid)
			smp.fds[key] = procFDs(w.cmd.Process.Pid)
		}
	}
	smp.ops = s.tot.ops + ops
	smp.rss["sup"] = procRSS(os.Getpid())
	// One pidfd per child not yet reaped: sleepers come and go.
	smp.fds["sup"] = procFDs(os.Getpid()) - len(s.sleepers)
	s.samples = append(s.samples, smp)
	keys := make([]string, 0, len(smp.rss))
	for k := range smp.rss {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%dkB/%dfd", k, smp.rss[k], smp.fds[k])
	}
	fmt.Printf("chaos: t=%5.1fs ops=%d kills=%d recoveries=%d shm=%d(all %d)%s\n",
		smp.at.Seconds(), smp.ops, smp.kills, smp.recover, smp.shm, smp.shmAll, b.String())
}

func (s *sup) verify(interrupted bool) error {
	var fails []string
	failf := func(format string, args ...any) { fails = append(fails, fmt.Sprintf(format, args...)) }
	m := s.mem

	// The end state of every lock: after a recovery sweep nobody holds or
	// waits; one last writer (this supervisor) sees any owner-dead episode
	// still open, repairs it and clears it.
	o := lock.Owner(unix.Gettid())
	var episodes, wkillsTotal int
	for k, l := range s.locks {
		if _, err := l.Recover(); err != nil {
			failf("lock %d: Recover: %v", k, err)
		}
		st, err := l.Stats()
		if err != nil || st.Readers != 0 || st.WriterPID != 0 || st.WaitingReaders != 0 || st.WaitingWriters != 0 || st.UsedSlots != 0 || st.Attached != 1 {
			failf("lock %d not clean at the end: %+v (%v)", k, st, err)
			hs, _ := l.Holders()
			failf("lock %d holders: %+v", k, hs)
		}
		err = l.Acquire(o, lock.ModeWrite, 2*time.Second)
		told := errors.Is(err, lock.ErrOwnerDead)
		if err != nil && !told {
			failf("lock %d: final write: %v", k, err)
			continue
		}
		if told != st.OwnerDead {
			failf("lock %d: final write told=%v but Stats.OwnerDead=%v", k, told, st.OwnerDead)
		}
		m.write(s.supSlot, k, told, 7, 0)
		m.leave(s.supSlot)
		s.tot.viol += atomic.LoadUint64(m.slot(s.supSlot, sViol))
		atomic.StoreUint64(m.slot(s.supSlot, sViol), 0)
		if err := l.Release(o); err != nil {
			failf("lock %d: final release: %v", k, err)
		}
		st2, _ := l.Stats()
		if st2.OwnerDead || st2.UsedSlots != 0 {
			failf("lock %d after the final write: %+v", k, st2)
		}

		// Owner-dead episodes: every one a writer saw must be preceded by
		// a distinct kill of a process that was in a write phase on this
		// lock (a matching exists iff the i-th episode comes after the
		// i-th such kill); what readers saw must be an episode writers saw,
		// or the one a told writer was just ending.
		var eps []int64
		seen := func(id int) bool { return id >= 0 && atomic.LoadUint64(m.lockw(k, lWEp+8*id)) != 0 }
		for id := 0; id < 4096; id++ {
			if t := atomic.LoadUint64(m.lockw(k, lWEp+8*id)); t != 0 {
				eps = append(eps, int64(t))
			}
			if atomic.LoadUint64(m.lockw(k, lREp+8*id)) != 0 && !seen(id) && !seen(id-1) {
				failf("lock %d: readers saw owner-dead episode %d that no writer saw", k, id)
			}
		}
		sort.Slice(eps, func(i, j int) bool { return eps[i] < eps[j] })
		kills := append([]int64(nil), s.wkills[k]...)
		sort.Slice(kills, func(i, j int) bool { return kills[i] < kills[j] })
		for i, t := range eps {
			if i >= len(kills) || kills[i] >= t {
				failf("lock %d: owner-dead episode %d (at +%v) has no earlier kill of a writer to match (%d such kills)",
					k, i, time.Duration(t-s.start.UnixNano()+s.start.UnixNano()), len(kills))
				break
			}
		}
		if int(st2.OwnerDeaths) > len(kills) {
			failf("lock %d: engine counted %d owner deaths, but only %d processes were killed in a write phase", k, st2.OwnerDeaths, len(kills))
		}
		episodes += len(eps)
		wkillsTotal += len(kills)
	}
	if atomic.LoadUint64(m.w(hOverflow)) != 0 {
		failf("owner-dead episode table overflowed")
	}
	rec, deaths := s.recoveries()

	elapsed := time.Since(s.start)
	fmt.Printf("chaos: %.1f s, %d workers (C, Go, Python in turn; %d never killed), %d threads each (Python %d), %d locks\n",
		elapsed.Seconds(), s.c.procs, s.c.immune, s.c.threads, s.c.pyThreads, s.c.nlocks)
	fmt.Printf("chaos: operations %d (C %d, Go %d, Python %d): reads %d, writes %d, downgrades %d; busy or timed out %d\n",
		s.tot.ops, s.tot.byLang["c"], s.tot.byLang["go"], s.tot.byLang["py"], s.tot.reads, s.tot.writes, s.tot.downs, s.tot.fails)
	wf := s.checkWaits(failf)
	fmt.Printf("chaos: kills %d, execs while holding %d (%d holding write), restarts %d; killed or exec'd in a write phase: %d (process, lock) pairs\n",
		s.kills, s.execs, s.execWrites, s.kills+s.execs, wkillsTotal)
	fmt.Printf("chaos: recoveries %d, owner deaths %d, owner-dead episodes %d, owner-dead grants %d\n",
		rec, deaths, episodes, s.tot.odobs)
	fmt.Printf("chaos: %s\n", s.stopFigures())
	fmt.Printf("chaos: longest acquire %.3f s; longest beyond stops and disturbed processes %.3f s (limit %v); longest part held up by stopped holders %.3f s (of a %.3f s call); %d calls of %v or more recorded\n",
		float64(s.tot.maxWait)/1e9, float64(wf.longestExcess)/1e9, s.c.maxWait, float64(wf.longestHeld)/1e9, float64(wf.heldRaw)/1e9, wf.records, time.Duration(ringMinNs))
	fmt.Printf("chaos: locks watched while a stopped process only waited for them: %d, longest without a grant while others waited %.3f s (limit %v)\n",
		s.stallsWatched, float64(s.longestStall)/1e9, s.c.waiterBound)
	fmt.Printf("chaos: stuck %d, violations %d, unexpected errors %d\n", len(s.stuck), s.tot.viol, s.tot.errs)

	if s.tot.viol != 0 {
		failf("%d invariant violations", s.tot.viol)
	}
	for _, st := range s.stuck {
		failf("stuck: %s", st)
	}
	for _, u := range s.unexpected {
		failf("%s", u)
	}
	if s.tot.errs != 0 {
		failf("%d unexpected errors from the library", s.tot.errs)
	}
	if !interrupted && s.tot.ops < s.c.minOps {
		failf("only %d operations, want at least %d", s.tot.ops, s.c.minOps)
	}
	if !interrupted && s.kills == 0 {
		failf("no kills")
	}
	fails = append(fails, s.flat()...)
	if len(fails) > 0 {
		return errors.New(strings.Join(fails, "\n  "))
	}
	return nil
}

// flat checks that the survivors' RSS and descriptors and the files in
// /dev/shm stayed flat: the last sample against the one a third of the way
// in (after warm-up).
func (s *sup) flat() []string {
	var fails []string
	if len(s.samples) < 2 {
		return nil
	}
	want := s.c.nlocks + 1
	for _, smp := range s.samples {
		if smp.shm != want {
			fails = append(fails, fmt.Sprintf("/dev/shm held %d files of this run at t=%.0fs, want %d", smp.shm, smp.at.Seconds(), want))
			break
		}
	}
	base, last := s.samples[len(s.samples)/3], s.samples[len(s.samples)-1]
	if base.at == last.at {
		base = s.samples[0]
	}
	for k, v := range last.fds {
		if b := base.fds[k]; v > b+2 {
			fails = append(fails, fmt.Sprintf("%s: descriptors grew from %d to %d", k, b, v))
		}
	}
	for k, v := range last.rss {
		if b := base.rss[k]; float64(v-b) > s.c.rssGrowthMiB*1024 {
			fails = append(fails, fmt.Sprintf("%s: RSS grew from %d kB to %d kB", k, b, v))
		}
	}
	fmt.Printf("chaos: flat from t=%.0fs to t=%.0fs: fds %v -> %v; RSS kB %v -> %v; /dev/shm %d\n",
		base.at.Seconds(), last.at.Seconds(), base.fds, last.fds, base.rss, last.rss, last.shm)
	return fails
}
