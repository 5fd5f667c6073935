//go:build linux

package lock

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// ShmDir is where bare names live.
const ShmDir = "/dev/shm"

// NamePrefix marks the files of bare-named and anonymous locks in ShmDir.
const NamePrefix = "prwlock."

const anonPrefix = NamePrefix + "anon."

// maxNameLen bounds a bare name so that prefix+name fits NAME_MAX (255).
const maxNameLen = 255 - len(NamePrefix)

// ResolvePath maps a lock name to its file. A bare name (no '/') becomes
// ShmDir/prwlock.<name>; a name containing '/' is a file path, relative
// to the working directory unless absolute. Empty names, NUL bytes, "."
// and ".." (as a name or a path component) and overlong names are
// rejected with ErrInvalid.
func ResolvePath(name string) (string, error) {
	switch {
	case name == "":
		return "", detail(ErrInvalid, "empty lock name")
	case strings.IndexByte(name, 0) >= 0:
		return "", detail(ErrInvalid, "lock name contains a NUL byte")
	}
	if !strings.Contains(name, "/") {
		if name == "." || name == ".." {
			return "", detail(ErrInvalid, "lock name %q is not allowed", name)
		}
		if len(name) > maxNameLen {
			return "", detail(ErrInvalid, "lock name longer than %d bytes", maxNameLen)
		}
		return ShmDir + "/" + NamePrefix + name, nil
	}
	if len(name) >= unix.PathMax {
		return "", detail(ErrInvalid, "lock path longer than %d bytes", unix.PathMax-1)
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", detail(ErrInvalid, "lock path %q contains '..'", name)
		}
	}
	if strings.HasSuffix(name, "/") {
		return "", detail(ErrInvalid, "lock path %q names a directory", name)
	}
	return name, nil
}

// registry maps open files to this process's segments, so that one process
// has one view of its holds whichever handle it uses.
var (
	registryMu sync.Mutex
	registry   = map[[2]uint64]*segment{}
)

// Open opens the lock called name, creating it if opt.Create is set.
func Open(name string, opt Options) (*Lock, error) {
	if IsRemoteName(name) {
		return openURL(name, opt)
	}
	path, err := ResolvePath(name)
	if err != nil {
		return nil, err
	}
	// A relative path is made absolute now, so that the token (and every
	// process it reaches) names the same file whatever its working
	// directory.
	if !filepath.IsAbs(path) {
		if path, err = filepath.Abs(path); err != nil {
			return nil, err
		}
	}
	seg, uid, err := openPath(path, opt, trustFor(opt), 0)
	if err != nil {
		return nil, err
	}
	return &Lock{seg: seg, name: name, multiUser: opt.MultiUser, ownerUID: uid}, nil
}

// CreateAnonymous creates a lock with a unique name in ShmDir. It is
// removed when the last process that has it open closes it or dies (the
// survivor's Close, or any later CreateAnonymous, cleans up). Share it with
// other processes through Token and OpenToken.
func CreateAnonymous(opt Options) (*Lock, error) {
	sweepAnonymousOnce.Do(func() { SweepAnonymous() })
	opt.Create, opt.Exclusive = true, true
	for tries := 0; ; tries++ {
		var rb [8]byte
		if _, err := rand.Read(rb[:]); err != nil {
			return nil, err
		}
		path := ShmDir + "/" + anonPrefix + strconv.Itoa(os.Getpid()) + "." + hex.EncodeToString(rb[:])
		seg, uid, err := openPath(path, opt, trustFor(opt), flagAnonymous)
		if errors.Is(err, os.ErrExist) && tries < 8 {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &Lock{seg: seg, name: path, multiUser: opt.MultiUser, ownerUID: uid}, nil
	}
}

// tokenMultiUser introduces the token field that carries Options.MultiUser.
const tokenMultiUser = "multiuser="

// Token returns a printable string that names this lock's file and its
// identity; OpenToken attaches to the same lock from any process of the
// machine for as long as the file exists. The token of a handle opened with
// Options.MultiUser carries that opt-in, pinned to the uid that owned the
// file at open:
//
//	prwlock:<layout>:<dev>:<ino>:<path>
//	prwlock:<layout>:<dev>:<ino>:multiuser=<uid>:<path>
func (l *Lock) Token() string {
	if l.remote != nil {
		return l.remote.token()
	}
	s := l.seg
	mu := ""
	if l.multiUser {
		mu = tokenMultiUser + strconv.FormatUint(uint64(l.ownerUID), 10) + ":"
	}
	return fmt.Sprintf("prwlock:%d:%d:%d:%s%s", layoutVersion, s.dev, s.ino, mu, s.path)
}

// OpenToken attaches to the lock a token from Token names. A token whose
// file is gone or was replaced by another file fails with an error
// matching fs.ErrNotExist; a malformed token fails with ErrInvalid. The
// file must pass the same ownership check as Open, with the MultiUser
// opt-in only if the token carries it, and then only for a file still
// owned by the uid the token names (ErrPermission otherwise).
func OpenToken(token string) (*Lock, error) {
	if IsRemoteName(token) {
		return openURL(token, Options{}) // a remote lock's token is its URL
	}
	parts := strings.SplitN(token, ":", 5)
	if len(parts) != 5 || parts[0] != "prwlock" {
		return nil, detail(ErrInvalid, "malformed lock token")
	}
	if parts[1] != strconv.Itoa(layoutVersion) {
		return nil, detail(ErrProtocol, "token for layout version %q", parts[1])
	}
	dev, err1 := strconv.ParseUint(parts[2], 10, 64)
	ino, err2 := strconv.ParseUint(parts[3], 10, 64)
	path, rule := parts[4], trustRule{pinUID: -1}
	if rest, ok := strings.CutPrefix(path, tokenMultiUser); ok {
		u, p, _ := strings.Cut(rest, ":")
		uid, err := strconv.ParseUint(u, 10, 32)
		if err != nil {
			return nil, detail(ErrInvalid, "malformed lock token")
		}
		path, rule = p, trustRule{multiUser: true, pinUID: int64(uid)}
	}
	if err1 != nil || err2 != nil || !strings.HasPrefix(path, "/") {
		return nil, detail(ErrInvalid, "malformed lock token")
	}
	if _, err := ResolvePath(path); err != nil {
		return nil, err
	}
	seg, uid, err := openPath(path, Options{}, rule, 0)
	if err != nil {
		return nil, err
	}
	l := &Lock{seg: seg, name: path, multiUser: rule.multiUser, ownerUID: uid}
	if seg.dev != dev || seg.ino != ino {
		l.Close()
		return nil, &os.PathError{Op: "open", Path: path, Err: unix.ENOENT}
	}
	return l, nil
}

// openPath opens or creates the segment at path and attaches to it. An
// existing file must pass rule (checkTrust); uid is the file's owner.
func openPath(path string, opt Options, rule trustRule, flags uint32) (seg *segment, uid uint32, err error) {
	capacity, err := normCapacity(opt.Capacity)
	if err != nil {
		return nil, 0, err
	}
	perm := opt.Perm
	if perm == 0 {
		perm = 0o600
	}
	if perm&^0o777 != 0 {
		return nil, 0, detail(ErrInvalid, "mode %#o has bits beyond 0777", perm)
	}
	if opt.Create && perm&0o022 != 0 && !opt.MultiUser {
		// Such a lock would fail the check of every later default open.
		return nil, 0, detail(ErrInvalid, "mode %#o lets users other than the owner write the lock; %s",
			perm, multiUserHint)
	}
	const base = unix.O_RDWR | unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NONBLOCK
	deadline := time.Now().Add(5 * time.Second)
	var removedSince time.Time
	for {
		if opt.Create {
			fd, err := unix.Open(path, base|unix.O_CREAT|unix.O_EXCL, perm)
			if err == nil {
				// Ours (O_EXCL), but the filesystem picks the owner.
				var st unix.Stat_t
				uid = uint32(os.Geteuid())
				if unix.Fstat(fd, &st) == nil {
					uid = st.Uid
				}
				seg, err := createSegment(fd, path, capacity, perm, flags)
				return seg, uid, err
			}
			if err != unix.EEXIST || opt.Exclusive {
				return nil, 0, pathErr("create", path, err)
			}
		}
		fd, err := unix.Open(path, base, 0)
		if err == unix.ENOENT && opt.Create && time.Now().Before(deadline) {
			continue // removed between our create and open attempts
		}
		if err != nil {
			return nil, 0, pathErr("open", path, err)
		}
		// Checked on the descriptor we map: the file cannot be swapped
		// between the check and the use.
		if uid, err = checkTrust(fd, path, rule); err != nil {
			unix.Close(fd)
			return nil, 0, err
		}
		seg, err := openExisting(fd, path, deadline)
		if err == errRetryOpen {
			// The last user removed it and is about to unlink the file,
			// which takes microseconds; a file that stays is corrupt.
			if removedSince.IsZero() {
				removedSince = time.Now()
			}
			if time.Since(removedSince) > time.Second {
				return nil, 0, pathErr("open", path, unix.ENOENT)
			}
			sleepBriefly()
			continue
		}
		return seg, uid, err
	}
}

// trustRule says which existing files an open accepts.
//
// By default a file must be owned by the caller's effective uid or by root,
// and no user other than its owner may write it: no group or other write
// bit (with POSIX ACLs the group bits are the mask, which bounds every named
// entry, so this covers ACL grants too). Anyone else could have planted the
// file in a shared directory such as /dev/shm, or could rewrite the lock
// word under the caller's holds. multiUser lifts both conditions; pinUID >= 0
// (from a token) then requires that exact owner.
type trustRule struct {
	multiUser bool
	pinUID    int64
}

func trustFor(opt Options) trustRule { return trustRule{multiUser: opt.MultiUser, pinUID: -1} }

// multiUserHint is the way out named by every refusal.
const multiUserHint = "if the lock is meant to be shared between users, set MultiUser (C: PRW_MULTIUSER, Python: multiuser=True)"

// checkTrust applies rule to the open file fd and returns its owner. A
// file that is not a regular file is no lock, whoever owns it (ErrProtocol).
func checkTrust(fd int, path string, rule trustRule) (uint32, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, pathErr("stat", path, err)
	}
	euid := uint32(os.Geteuid())
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return 0, detail(ErrProtocol, "%s is not a regular file", path)
	case rule.multiUser && rule.pinUID >= 0 && int64(st.Uid) != rule.pinUID:
		return 0, detail(ErrPermission, "%s is owned by %s, but the token was made for a lock owned by %s",
			path, describeUser(st.Uid), describeUser(uint32(rule.pinUID)))
	case rule.multiUser:
	case st.Uid != euid && st.Uid != 0:
		return 0, detail(ErrPermission, "%s is owned by %s, neither by you nor by root, so another user could have planted it; %s",
			path, describeUser(st.Uid), multiUserHint)
	case st.Mode&0o022 != 0:
		return 0, detail(ErrPermission, "%s has mode %#o: users other than its owner (%s) can write it; %s",
			path, st.Mode&0o777, describeUser(st.Uid), multiUserHint)
	}
	return st.Uid, nil
}

// describeUser names uid for an error message: "nobody (uid 65534)".
func describeUser(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil && u.Username != "" {
		return u.Username + " (uid " + id + ")"
	}
	return "uid " + id
}

var errRetryOpen = errors.New("retry")

func pathErr(op, path string, err error) error {
	if err == unix.ELOOP {
		return &os.PathError{Op: op, Path: path, Err: fmt.Errorf("%w (refusing to follow a symbolic link)", err)}
	}
	return &os.PathError{Op: op, Path: path, Err: err}
}

func fileKey(st *unix.Stat_t) [2]uint64 { return [2]uint64{uint64(st.Dev), st.Ino} }

// createSegment initialises a file this process just created with O_EXCL.
func createSegment(fd int, path string, capacity int, perm uint32, flags uint32) (seg *segment, err error) {
	defer unix.Close(fd)
	defer func() {
		if err != nil {
			unix.Unlink(path)
		}
	}()
	// Openers wait while this lock is held; the kernel drops it if we die.
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: 0, Len: 1}
	if err := unix.FcntlFlock(uintptr(fd), unix.F_OFD_SETLK, &lk); err != nil {
		return nil, pathErr("lock", path, err)
	}
	if err := unix.Fchmod(fd, perm); err != nil {
		return nil, pathErr("chmod", path, err)
	}
	slotOff, attOff, size := layoutFor(capacity)
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		return nil, pathErr("truncate", path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, pathErr("stat", path, err)
	}
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, pathErr("mmap", path, err)
	}
	s := &segment{mem: mem, capacity: capacity, slotOff: slotOff, attOff: attOff, path: path,
		dev: uint64(st.Dev), ino: st.Ino, anon: flags&flagAnonymous != 0, me: self()}
	s.key = processKey(s.me)
	// The file is zero-filled; write the header, then magic, then ready.
	atomic.StoreUint32(s.u32(offVersion), layoutVersion)
	atomic.StoreUint32(s.u32(offSlotSize), slotSize)
	atomic.StoreUint64(s.u64(offSize), uint64(size))
	atomic.StoreUint32(s.u32(offCapacity), uint32(capacity))
	atomic.StoreUint32(s.u32(offAttachCap), uint32(capacity))
	atomic.StoreUint32(s.u32(offFlags), flags)
	atomic.StoreInt64(s.i64(offCreated), time.Now().UnixNano())
	// Attach before publishing, so that no sweeper can find the new
	// anonymous segment ready but unused.
	s.attSlot = s.attach()
	atomic.StoreUint64(s.u64(offMagic), magicValue)
	atomic.StoreUint32(s.u32(offSegState), segReady)
	registryMu.Lock()
	s.refs = 1
	registry[fileKey(&st)] = s
	registryMu.Unlock()
	return s, nil
}

// openExisting validates and maps a file someone else created, in three
// steps: wait until its creator has initialised it (or find this
// process's own mapping of it), map it and attach, then join it once it
// is ready and register it. fd is closed on return.
func openExisting(fd int, path string, deadline time.Time) (*segment, error) {
	defer unix.Close(fd)
	st, hdr, s, err := waitInitialised(fd, path, deadline)
	if s != nil || err != nil {
		return s, err
	}
	if s, err = mapExisting(fd, path, &st, &hdr); err != nil {
		return nil, err
	}
	if err := s.joinReady(); err != nil {
		s.abandonOpen()
		return nil, err
	}
	return s.register(&st), nil
}

// registered returns the segment this process has open for the file of
// st, with one more reference, or nil.
func registered(st *unix.Stat_t) *segment {
	registryMu.Lock()
	defer registryMu.Unlock()
	return registeredLocked(st)
}

// registeredLocked is registered with registryMu held.
func registeredLocked(st *unix.Stat_t) *segment {
	s, ok := registry[fileKey(st)]
	if !ok || s.closing() {
		return nil
	}
	s.refs++
	return s
}

// waitInitialised waits until the lock file fd is a regular file with an
// initialised header, which it returns with the file's stat, or returns
// the segment this process already has for it (see registered).
func waitInitialised(fd int, path string, deadline time.Time) (st unix.Stat_t, hdr [offState]byte, s *segment, err error) {
	var unlockedSince time.Time // when we first saw it uninitialised with no creator
	for {
		if err = unix.Fstat(fd, &st); err != nil {
			return st, hdr, nil, pathErr("stat", path, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			return st, hdr, nil, detail(ErrProtocol, "%s is not a regular file", path)
		}
		if s = registered(&st); s != nil {
			return st, hdr, s, nil
		}
		n, _ := unix.Pread(fd, hdr[:], 0)
		ready, herr := checkHeader(hdr[:n], st.Size)
		if herr != nil {
			// The creator may have sized and written the file between our
			// stat and our read: look again while it is still changing.
			var now unix.Stat_t
			if unix.Fstat(fd, &now) == nil && now.Size != st.Size && time.Now().Before(deadline) {
				continue
			}
			return st, hdr, nil, fmt.Errorf("%w (%s)", herr, path)
		}
		if ready {
			return st, hdr, nil, nil
		}
		// Being created: wait while the creator holds its OFD lock; a file
		// nobody initialises after a grace period is not a lock.
		// (A creator takes that lock right after its exclusive create, so
		// the grace period covers only that gap.)
		lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: 0, Len: 1}
		if unix.FcntlFlock(uintptr(fd), unix.F_OFD_GETLK, &lk) == nil && lk.Type == unix.F_UNLCK {
			if unlockedSince.IsZero() {
				unlockedSince = time.Now()
			} else if time.Since(unlockedSince) > 200*time.Millisecond {
				return st, hdr, nil, detail(ErrProtocol, "%s was never initialised", path)
			}
		} else {
			unlockedSince = time.Time{}
		}
		if time.Now().After(deadline) {
			return st, hdr, nil, detail(ErrTimeout, "%s is still being initialised", path)
		}
		time.Sleep(time.Millisecond)
	}
}

// mapExisting maps the initialised lock file fd (stat st, header hdr) and
// takes an attachment entry in it.
func mapExisting(fd int, path string, st *unix.Stat_t, hdr *[offState]byte) (*segment, error) {
	mem, err := unix.Mmap(fd, 0, int(st.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, pathErr("mmap", path, err)
	}
	// Use the capacity we validated, never a value re-read from shared
	// memory, and refuse a header that changed meanwhile.
	capacity := int(binary.NativeEndian.Uint32(hdr[offCapacity:]))
	slotOff, attOff, size := layoutFor(capacity)
	if size != len(mem) || atomic.LoadUint32((*uint32)(ptrAt(mem, offCapacity))) != uint32(capacity) {
		unix.Munmap(mem)
		return nil, detail(ErrProtocol, "%s changed while being opened", path)
	}
	s := &segment{mem: mem, capacity: capacity, slotOff: slotOff, attOff: attOff, path: path,
		dev: uint64(st.Dev), ino: st.Ino, me: self()}
	s.key = processKey(s.me)
	s.anon = atomic.LoadUint32(s.u32(offFlags))&flagAnonymous != 0
	s.attSlot = s.attach()
	if s.attSlot < 0 && s.anon {
		unix.Munmap(mem)
		return nil, s.fullError("attachment entries (one per process that has it open)")
	}
	return s, nil
}

// joinReady checks that the segment s just mapped is not being removed
// (see lastUserGone), waiting briefly for a process that is deciding.
func (s *segment) joinReady() error {
	for start := MonotonicNow(); ; {
		ss := atomic.LoadUint32(s.u32(offSegState))
		switch {
		case ss == segReady:
			return nil
		case ss == segClosing && !s.waitClosing(start):
			continue
		case ss == segClosing:
			return detail(ErrProtocol, "%s is stuck in the closing state", s.path)
		case ss == segRemoved:
			return errRetryOpen
		default:
			return detail(ErrProtocol, "%s has segment state %d", s.path, ss)
		}
	}
}

// abandonOpen undoes mapExisting.
func (s *segment) abandonOpen() {
	s.detachEntry(s.attSlot)
	unix.Munmap(s.mem)
}

// register makes s this process's segment for the file of st, unless
// another goroutine registered one meanwhile: then it abandons s and
// returns that one.
func (s *segment) register(st *unix.Stat_t) *segment {
	registryMu.Lock()
	if other := registeredLocked(st); other != nil {
		registryMu.Unlock()
		s.abandonOpen()
		return other
	}
	s.refs = 1
	registry[fileKey(st)] = s
	registryMu.Unlock()
	return s
}

// Close detaches the handle. Closing a process's last handle on a lock
// releases every hold the process still has on it: read holds silently,
// write holds as if the writer died (the data may be half written, so the
// next acquirers get ErrOwnerDead), and withdraws its waiters. The last
// user of an anonymous lock removes its file. Close returns ErrClosed if
// the handle was already closed.
func (l *Lock) Close() error {
	if l == nil || !l.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	if l.remote != nil {
		return l.remote.close()
	}
	l.waitInFlight()
	s := l.seg
	registryMu.Lock()
	s.refs--
	last := s.refs == 0
	if last {
		// No new handle may pick this segment up; in-flight calls finish.
		s.active.Add(closingBias)
		delete(registry, [2]uint64{s.dev, s.ino})
	}
	registryMu.Unlock()
	if !last {
		return nil
	}
	for s.active.Load() != closingBias {
		time.Sleep(100 * time.Microsecond)
	}
	return s.detach()
}

// detach releases what this process still holds and unmaps the segment.
func (s *segment) detach() error {
	err := s.releaseAll()
	if e := unix.Munmap(s.mem); err == nil {
		err = e
	}
	return err
}

// releaseAll drops this process's holds, waits and attachment, and removes
// an anonymous segment it was the last user of. A fault on a truncated
// mapping ends it with ErrProtocol (see exit).
func (s *segment) releaseAll() (err error) {
	s.active.Add(1) // balanced by exit
	defer s.exit(&err, debug.SetPanicOnFault(true))
	s.recs.each(func(r *ownerRec) {
		if r.slot >= 0 {
			s.releaseRec(r, r.mode == ModeWrite)
		}
		s.retireIdle(r)
	})
	s.detachEntry(s.attSlot)
	if s.anon && s.lastUserGone() {
		var st unix.Stat_t
		if unix.Lstat(s.path, &st) == nil && uint64(st.Dev) == s.dev && st.Ino == s.ino {
			unix.Unlink(s.path)
		}
	}
	return nil
}

// Unlink removes the named lock's file, like sem_unlink: processes that
// have it open keep using it; later opens create a new lock. It refuses,
// with ErrProtocol, to remove a file that is not a prwlock segment, and,
// with ErrPermission, one owned by neither the caller's effective uid nor
// root (the mode does not matter: removing a name trusts nothing in it).
// Both checks are made on the open file. The unlink itself goes by path;
// in a sticky directory such as /dev/shm only the file's owner or root can
// replace the file meanwhile.
func Unlink(name string) error {
	if IsRemoteName(name) {
		return unlinkURL(name)
	}
	path, err := ResolvePath(name)
	if err != nil {
		return err
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return pathErr("open", path, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return pathErr("stat", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return detail(ErrProtocol, "%s is not a regular file", path)
	}
	if euid := uint32(os.Geteuid()); st.Uid != euid && st.Uid != 0 {
		return detail(ErrPermission, "%s is owned by %s, neither by you nor by root; not removing another user's lock (remove it as its owner, or with rm)",
			path, describeUser(st.Uid))
	}
	var hdr [offState]byte
	n, _ := unix.Pread(fd, hdr[:], 0)
	if atomicMagic(hdr[:n]) != magicValue {
		return detail(ErrProtocol, "%s is not a prwlock segment; not removing it", path)
	}
	if err := unix.Unlink(path); err != nil {
		return pathErr("unlink", path, err)
	}
	return nil
}

var sweepAnonymousOnce sync.Once

// SweepAnonymous removes anonymous lock files in ShmDir whose users are
// all dead, and those whose last user died between marking them removed
// and unlinking them; only files owned by the caller's effective uid.
// CreateAnonymous runs it once per process. It returns how many files it
// removed.
func SweepAnonymous() int {
	ents, err := os.ReadDir(ShmDir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), anonPrefix) {
			continue
		}
		path := ShmDir + "/" + e.Name()
		switch anonState(path) {
		case segRemoved:
			// Marked removed by a last user that died before unlinking.
			if unix.Unlink(path) == nil {
				n++
			}
		case segReady:
			// Attach and detach: the detach removes the file if no live
			// user is left. Only our own files (anonState checked the
			// owner; the pin re-checks it on the descriptor we map), of
			// any mode: CreateAnonymous may have been given MultiUser.
			rule := trustRule{multiUser: true, pinUID: int64(os.Geteuid())}
			if seg, _, err := openPath(path, Options{}, rule, 0); err == nil {
				(&Lock{seg: seg}).Close()
				if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
					n++
				}
			}
		}
	}
	return n
}

// anonState reads the segment state of an anonymous lock file without
// attaching to it, or returns -1 if the file is not a valid anonymous
// segment of the caller's effective uid (other users' files are theirs to
// sweep, and a planted one is not ours to act on).
func anonState(path string) int {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return -1
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	var hdr [offState]byte
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Uid != uint32(os.Geteuid()) {
		return -1
	}
	n, _ := unix.Pread(fd, hdr[:], 0)
	if ready, err := checkHeader(hdr[:n], st.Size); !ready || err != nil ||
		binary.NativeEndian.Uint32(hdr[offFlags:])&flagAnonymous == 0 {
		return -1
	}
	return int(binary.NativeEndian.Uint32(hdr[offSegState:]))
}

func sleepBriefly() { time.Sleep(200 * time.Microsecond) }
