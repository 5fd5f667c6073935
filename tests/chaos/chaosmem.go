//go:build linux

package main

// The chaos test's shared scratch memory from Go: the same layout as
// chaosmem.h, and the same critical-section checks as cs.c (see there for
// the reasoning behind each step).

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"unsafe"

	"github.com/prwlock/prwlock/lock"
	"golang.org/x/sys/unix"
)

const (
	cmMagic = 0x534f414843575250

	hMagic    = 0
	hStop     = 8
	hNLocks   = 16
	hNSlots   = 24
	hOverflow = 32
	hExecReq  = 1024

	lockBase   = 65536
	lockStride = 131072
	maxLocks   = 8
	lA         = 0
	lB         = 64
	lRepairs   = 128
	lRGrants   = 192
	lWGrants   = 256
	lWEp       = 4096
	lREp       = 36864
	episodes   = 4096

	slotBase = lockBase + maxLocks*lockStride
	slotSize = 256
	maxSlots = 1024

	sMark       = 0
	sWPhase     = 8
	sOps        = 16
	sMaxWait    = 24
	sWaitStart  = 32
	sViol       = 40
	sODObs      = 48
	sFails      = 56
	sErrs       = 64
	sLastErr    = 72
	sPID        = 80
	sBeat       = 88
	sReads      = 96
	sWrites     = 104
	sDowngrades = 112
	sExecAt     = 120
	sWaitInfo   = 128
	sRingHead   = 136

	ringBase  = slotBase + maxSlots*slotSize
	ringLen   = 64
	ringEntry = 32
	rStart    = 0
	rEnd      = 8
	rInfo     = 16
	ringMinNs = 50_000_000
	memSize   = ringBase + maxSlots*ringLen*ringEntry

	modeRead  = 1
	modeWrite = 2
)

type chaosMem struct {
	b    []byte
	path string // a process that no longer maps it has left every critical section
}

func createMem(path string, nlocks int) (*chaosMem, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	if err := unix.Ftruncate(fd, memSize); err != nil {
		return nil, err
	}
	b, err := unix.Mmap(fd, 0, memSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	m := &chaosMem{b, path}
	atomic.StoreUint64(m.w(hNLocks), uint64(nlocks))
	atomic.StoreUint64(m.w(hMagic), cmMagic)
	return m, nil
}

func mapMem(path string) (*chaosMem, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	b, err := unix.Mmap(fd, 0, memSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	m := &chaosMem{b, path}
	if atomic.LoadUint64(m.w(hMagic)) != cmMagic {
		return nil, fmt.Errorf("%s: not a chaos memory file", path)
	}
	return m, nil
}

func (m *chaosMem) w(off int) *uint64 { return (*uint64)(unsafe.Pointer(&m.b[off])) }
func (m *chaosMem) slot(s, f int) *uint64 {
	return m.w(slotBase + s*slotSize + f)
}
func (m *chaosMem) lockw(k, f int) *uint64 { return m.w(lockBase + k*lockStride + f) }
func (m *chaosMem) ring(s, i, f int) *uint64 {
	return m.w(ringBase + (s*ringLen+i%ringLen)*ringEntry + f)
}
func (m *chaosMem) execReq(s int) *uint64 { return m.w(hExecReq + 8*(s/8)) }
func (m *chaosMem) stop() bool            { return atomic.LoadUint64(m.w(hStop)) != 0 }

func bump(p *uint64) { atomic.StoreUint64(p, atomic.LoadUint64(p)+1) }

func pidGone(pid uint32) bool {
	b, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(pid), 10) + "/stat")
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && (b[i+2] == 'Z' || b[i+2] == 'X')
}

// mapsFile reports whether process pid maps the file path: 1 yes, 0 no (it
// exec'd, or its memory is already gone), -1 unknown.
func mapsFile(pid uint32, path string) int {
	b, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(pid), 10) + "/maps")
	if err != nil {
		return -1
	}
	if bytes.Contains(b, []byte(path)) {
		return 1
	}
	return 0
}

// markStale: the process that published a mark can no longer be inside a
// critical section (see mark_stale in cs.c).
func (m *chaosMem) markStale(pid uint32) bool {
	return pidGone(pid) || mapsFile(pid, m.path) == 0
}

func (m *chaosMem) violation(slot int, format string, args ...any) {
	bump(m.slot(slot, sViol))
	fmt.Fprintf(os.Stderr, "chaos VIOLATION pid %d slot %d: %s\n", os.Getpid(), slot, fmt.Sprintf(format, args...))
}

func (m *chaosMem) check(slot, k, mode int) {
	n := int(atomic.LoadUint64(m.w(hNSlots)))
	for s := 0; s < n; s++ {
		if s == slot {
			continue
		}
		mk := atomic.LoadUint64(m.slot(s, sMark))
		if mk == 0 || int(mk>>8&0xff) != k+1 {
			continue
		}
		if mode == modeRead && mk&0xff != modeWrite {
			continue
		}
		if m.markStale(uint32(mk >> 32)) {
			continue
		}
		m.violation(slot, "inside together with mark %#x (slot %d)", mk, s)
	}
}

func mark(k, mode int) uint64 {
	return uint64(os.Getpid())<<32 | uint64(k+1)<<8 | uint64(mode)
}

func spin(n int) {
	x := 0
	for i := 0; i < n; i++ {
		x += i
	}
	_ = x
}

func (m *chaosMem) waitBegin(slot, k int, write bool) int64 {
	if write {
		atomic.StoreUint64(m.slot(slot, sWPhase), uint64(k+1))
	}
	info := uint64(k)
	if write {
		info |= 1 << 8
	}
	atomic.StoreUint64(m.slot(slot, sWaitInfo), info)
	now := lock.MonotonicNow()
	atomic.StoreUint64(m.slot(slot, sWaitStart), uint64(now))
	return now
}

// waitEnd: outcome 0 granted, 1 owner-dead, 2 busy/timeout, 3 error.
func (m *chaosMem) waitEnd(slot int, start int64, outcome int, errno uint64) {
	end := lock.MonotonicNow()
	took := uint64(end - start)
	atomic.StoreUint64(m.slot(slot, sWaitStart), 0)
	if took >= ringMinNs {
		h := atomic.LoadUint64(m.slot(slot, sRingHead))
		atomic.StoreUint64(m.ring(slot, int(h), rStart), uint64(start))
		atomic.StoreUint64(m.ring(slot, int(h), rEnd), uint64(end))
		atomic.StoreUint64(m.ring(slot, int(h), rInfo), atomic.LoadUint64(m.slot(slot, sWaitInfo))|uint64(outcome)<<16)
		atomic.StoreUint64(m.slot(slot, sRingHead), h+1)
	}
	if took > atomic.LoadUint64(m.slot(slot, sMaxWait)) {
		atomic.StoreUint64(m.slot(slot, sMaxWait), took)
	}
	switch outcome {
	case 1:
		bump(m.slot(slot, sODObs))
	case 2:
		bump(m.slot(slot, sFails))
	case 3:
		bump(m.slot(slot, sErrs))
		atomic.StoreUint64(m.slot(slot, sLastErr), errno)
	}
	if outcome <= 1 {
		info, g := atomic.LoadUint64(m.slot(slot, sWaitInfo)), lRGrants
		if info>>8&1 != 0 {
			g = lWGrants
		}
		atomic.AddUint64(m.lockw(int(info&0xff), g), 1)
	}
	if outcome >= 2 {
		atomic.StoreUint64(m.slot(slot, sWPhase), 0)
	}
}

func (m *chaosMem) recordEpisode(k int, writer bool, now int64) {
	id := atomic.LoadUint64(m.lockw(k, lRepairs))
	if id >= episodes {
		atomic.StoreUint64(m.w(hOverflow), 1)
		return
	}
	off, v := lREp, uint64(1)
	if writer {
		off, v = lWEp, uint64(now)
	}
	if e := m.lockw(k, off+8*int(id)); atomic.LoadUint64(e) == 0 {
		atomic.StoreUint64(e, v)
	}
}

func (m *chaosMem) write(slot, k int, told bool, x uint64, n int) {
	atomic.StoreUint64(m.slot(slot, sMark), mark(k, modeWrite))
	m.check(slot, k, modeWrite)
	a, b := m.lockw(k, lA), m.lockw(k, lB)
	if told {
		m.recordEpisode(k, true, lock.MonotonicNow())
		atomic.StoreUint64(b, atomic.LoadUint64(a))
	} else if va, vb := atomic.LoadUint64(a), atomic.LoadUint64(b); va != vb {
		m.violation(slot, "writer found A %d != B %d without owner-dead", va, vb)
	}
	atomic.StoreUint64(a, x)
	spin(n)
	atomic.StoreUint64(b, x)
	if va, vb := atomic.LoadUint64(a), atomic.LoadUint64(b); va != x || vb != x {
		m.violation(slot, "writer's words changed under it: A %d B %d", va, vb)
	}
	if told {
		bump(m.lockw(k, lRepairs))
	}
	bump(m.slot(slot, sWrites))
}

func (m *chaosMem) read(slot, k int, told bool, n int) {
	atomic.StoreUint64(m.slot(slot, sMark), mark(k, modeRead))
	m.check(slot, k, modeRead)
	if told {
		m.recordEpisode(k, false, 0)
		return
	}
	a, b := m.lockw(k, lA), m.lockw(k, lB)
	for i := 0; i < 2; i++ {
		if va, vb := atomic.LoadUint64(a), atomic.LoadUint64(b); va != vb {
			m.violation(slot, "reader found A %d != B %d", va, vb)
		}
		spin(n)
	}
	bump(m.slot(slot, sReads))
}

func (m *chaosMem) downgrading(slot, k int) {
	atomic.StoreUint64(m.slot(slot, sMark), mark(k, modeRead))
}

func (m *chaosMem) downgraded(slot int) {
	atomic.StoreUint64(m.slot(slot, sWPhase), 0)
	bump(m.slot(slot, sDowngrades))
}

// execDue is called while holding: if the supervisor asked this worker to
// exec and this thread claims the request, it records the time and returns
// how many ms the new program should sleep; otherwise 0.
func (m *chaosMem) execDue(slot int) int {
	req := m.execReq(slot)
	ms := atomic.LoadUint64(req)
	if ms == 0 || !atomic.CompareAndSwapUint64(req, ms, 0) {
		return 0
	}
	atomic.StoreUint64(m.slot(slot, sExecAt), uint64(lock.MonotonicNow()))
	return int(ms)
}

func (m *chaosMem) leave(slot int) { atomic.StoreUint64(m.slot(slot, sMark), 0) }

func (m *chaosMem) released(slot int, err error) {
	atomic.StoreUint64(m.slot(slot, sWPhase), 0)
	if err != nil {
		bump(m.slot(slot, sErrs))
		atomic.StoreUint64(m.slot(slot, sLastErr), uint64(lock.Errno(err)))
		fmt.Fprintf(os.Stderr, "chaos: pid %d slot %d: release: %v\n", os.Getpid(), slot, err)
	}
	bump(m.slot(slot, sOps))
	atomic.StoreUint64(m.slot(slot, sBeat), uint64(lock.MonotonicNow()))
}
