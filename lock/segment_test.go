//go:build linux

package lock

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Tests of the segment file: validation on open, safe creation, names,
// tokens, anonymous locks and the creation race.

func init() {
	helpers["seg-race"] = helperCreationRace
	helpers["seg-attach"] = helperAttach
	helpers["seg-asuser"] = helperAsUser
	helpers["seg-open"] = helperOpen
}

// helperOpen opens args[0] and reports the errno.
func helperOpen(args []string) {
	l, err := Open(args[0], Options{})
	if err == nil {
		l.Close()
	}
	fmt.Println("result", int(Errno(err)), err)
}

// segmentBytes creates a lock of the given capacity at a temporary path,
// lets prep act on it, and returns the file's bytes. With snapshotHeld the
// bytes are read while the handle is still open (holds and attachment
// included); otherwise after Close, when nobody is attached.
func segmentBytes(t testing.TB, capacity int, snapshotHeld bool, prep func(l *Lock)) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "seed.lock")
	l, err := Open(path, Options{Create: true, Exclusive: true, Capacity: capacity})
	if err != nil {
		t.Fatal(err)
	}
	if prep != nil {
		prep(l)
	}
	var b []byte
	if snapshotHeld {
		b, err = os.ReadFile(path)
	}
	if cerr := l.Close(); cerr != nil {
		t.Fatal(cerr)
	}
	if !snapshotHeld {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(path)
	return b
}

func put32(b []byte, off int, v uint32) { binary.NativeEndian.PutUint32(b[off:], v) }
func put64(b []byte, off int, v uint64) { binary.NativeEndian.PutUint64(b[off:], v) }

// writeSeg writes data to a new file in dir and returns its path.
func writeSeg(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// within runs f and fails the test if it does not return within d. A call
// that hangs is left behind: the test reports it rather than hanging too.
func within[T any](t testing.TB, d time.Duration, what string, f func() T) T {
	t.Helper()
	ch := make(chan T, 1)
	go func() { ch <- f() }()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
	}
	panic("unreachable")
}

type openResult struct {
	l   *Lock
	err error
}

// openWithin opens name with opt and fails the test if Open hangs.
func openWithin(t testing.TB, d time.Duration, name string, opt Options) (*Lock, error) {
	t.Helper()
	r := within(t, d, "Open("+name+")", func() openResult {
		l, err := Open(name, opt)
		return openResult{l, err}
	})
	return r.l, r.err
}

// fileState is what a refused open must leave untouched.
type fileState struct {
	data []byte
	mode fs.FileMode
	ino  uint64
	size int64
}

func snapshot(t testing.TB, path string) fileState {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	var data []byte
	if fi.Mode().IsRegular() {
		if data, err = os.ReadFile(path); err != nil {
			t.Fatal(err)
		}
	}
	return fileState{data, fi.Mode(), fi.Sys().(*syscall.Stat_t).Ino, fi.Size()}
}

func (s fileState) check(t testing.TB, path string) {
	t.Helper()
	now := snapshot(t, path)
	if now.mode != s.mode || now.ino != s.ino || now.size != s.size {
		t.Errorf("%s changed: mode %v ino %d size %d, was %v %d %d", path, now.mode, now.ino, now.size, s.mode, s.ino, s.size)
	}
	if !bytes.Equal(now.data, s.data) {
		t.Errorf("%s: contents changed by a refused open", path)
	}
}

// refuse checks that opening path fails with want, within a bounded time,
// with and without Create, and leaves the file exactly as it was.
func refuse(t *testing.T, path string, want error) {
	t.Helper()
	before := snapshot(t, path)
	for _, opt := range []Options{{}, {Create: true}} {
		l, err := openWithin(t, 3*time.Second, path, opt)
		if err == nil {
			l.Close()
			t.Errorf("Open(%s, Create=%v) succeeded, want %v", path, opt.Create, want)
			continue
		}
		if !errors.Is(err, want) {
			t.Errorf("Open(%s, Create=%v) = %v, want %v", path, opt.Create, err, want)
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("error %q does not name the file", err)
		}
	}
	before.check(t, path)
}

func TestOpenRefusesBadSegments(t *testing.T) {
	good := segmentBytes(t, 64, false, nil)
	_, _, size := layoutFor(64)
	if len(good) != size {
		t.Fatalf("fresh segment is %d bytes, layout says %d", len(good), size)
	}
	dir := t.TempDir()

	// A copy of the good segment is accepted: the mutations below are
	// what makes the others fail.
	okPath := writeSeg(t, dir, "good", good)
	l, err := Open(okPath, Options{})
	if err != nil {
		t.Fatalf("valid segment refused: %v", err)
	}
	if err := l.Acquire(1, ModeWrite, 0); err != nil {
		t.Fatalf("Acquire on valid copy: %v", err)
	}
	l.Close()

	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	cases := []struct {
		name string
		data []byte
	}{
		{"wrong magic", mut(func(b []byte) []byte { b[0] = 'X'; return b })},
		{"magic of another program", mut(func(b []byte) []byte { copy(b, "SQLite f"); return b })},
		{"wrong version", mut(func(b []byte) []byte { put32(b, offVersion, layoutVersion+1); return b })},
		{"version 1", mut(func(b []byte) []byte { put32(b, offVersion, 1); return b })},
		{"version 0", mut(func(b []byte) []byte { put32(b, offVersion, 0); return b })},
		{"wrong slot size", mut(func(b []byte) []byte { put32(b, offSlotSize, 32); return b })},
		{"size field", mut(func(b []byte) []byte { put64(b, offSize, 4096); return b })},
		{"capacity 0", mut(func(b []byte) []byte { put32(b, offCapacity, 0); put32(b, offAttachCap, 0); return b })},
		{"capacity 63", mut(func(b []byte) []byte { put32(b, offCapacity, 63); put32(b, offAttachCap, 63); return b })},
		{"capacity 65", mut(func(b []byte) []byte { put32(b, offCapacity, 65); put32(b, offAttachCap, 65); return b })},
		{"capacity too large", mut(func(b []byte) []byte {
			put32(b, offCapacity, MaxCapacity+64)
			put32(b, offAttachCap, MaxCapacity+64)
			return b
		})},
		{"capacity 2^32-64", mut(func(b []byte) []byte {
			put32(b, offCapacity, 0xffffffc0)
			put32(b, offAttachCap, 0xffffffc0)
			return b
		})},
		{"capacity larger than the file", mut(func(b []byte) []byte {
			put32(b, offCapacity, 128)
			put32(b, offAttachCap, 128)
			return b
		})},
		{"attachment capacity", mut(func(b []byte) []byte { put32(b, offAttachCap, 128); return b })},
		{"unknown flags", mut(func(b []byte) []byte { put32(b, offFlags, 2); return b })},
		{"high flag", mut(func(b []byte) []byte { put32(b, offFlags, 1<<31|flagAnonymous); return b })},
		{"unknown segment state", mut(func(b []byte) []byte { put32(b, offSegState, 9); return b })},
		{"crashed creator: header but no magic", mut(func(b []byte) []byte { put64(b, offMagic, 0); return b })},
		{"truncated to one page", good[:4096]},
		{"truncated by one byte", good[:len(good)-1]},
		{"truncated header", good[:40]},
		{"header only", good[:offState]},
		{"oversized by a page", append(append([]byte(nil), good...), make([]byte, 4096)...)},
		{"oversized by a byte", append(append([]byte(nil), good...), 0)},
		{"text file", []byte("#!/bin/sh\necho not a lock\n")},
		{"short nonzero file", []byte{1}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			refuse(t, writeSeg(t, dir, "bad"+strconv.Itoa(i), c.data), ErrProtocol)
		})
	}
}

// A file nobody initialises (a creator that died before its first write,
// or a stray empty file) is refused after a short grace period, never
// waited on forever.
func TestOpenUninitialisedFile(t *testing.T) {
	_, _, size := layoutFor(DefaultCapacity)
	for _, n := range []int{0, 10, offState, size} {
		t.Run(strconv.Itoa(n)+" zero bytes", func(t *testing.T) {
			path := writeSeg(t, t.TempDir(), "blank", make([]byte, n))
			start := time.Now()
			refuse(t, path, ErrProtocol)
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("refusing a blank file took %v", d)
			}
		})
	}
}

// While a creator holds its OFD lock, an opener waits, past the grace
// period for unlocked blank files, and then opens the finished segment.
func TestOpenWaitsForCreator(t *testing.T) {
	good := segmentBytes(t, 64, false, nil)
	path := writeSeg(t, t.TempDir(), "creating", nil)
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	lk := unix.Flock_t{Type: unix.F_WRLCK, Start: 0, Len: 1}
	if err := unix.FcntlFlock(uintptr(fd), unix.F_OFD_SETLK, &lk); err != nil {
		t.Fatal(err)
	}
	done := make(chan openResult, 1)
	go func() {
		l, err := Open(path, Options{})
		done <- openResult{l, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("Open returned while the creator was still initialising: %v", r.err)
	case <-time.After(500 * time.Millisecond):
	}
	// Finish "creating": write the segment, then drop the OFD lock.
	if _, err := unix.Pwrite(fd, good, 0); err != nil {
		t.Fatal(err)
	}
	lk.Type = unix.F_UNLCK
	if err := unix.FcntlFlock(uintptr(fd), unix.F_OFD_SETLK, &lk); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("Open after initialisation: %v", r.err)
		}
		if err := r.l.Acquire(1, ModeRead, 0); err != nil {
			t.Errorf("Acquire: %v", err)
		}
		r.l.Close()
	case <-time.After(3 * time.Second):
		t.Fatal("Open did not return after the creator finished")
	}
}

func TestOpenNotRegularFile(t *testing.T) {
	dir := t.TempDir()

	sub := filepath.Join(dir, "adir")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	refuse(t, sub, syscall.EISDIR)
	if err := Unlink(sub); !errors.Is(err, ErrProtocol) {
		t.Errorf("Unlink(directory) = %v, want ErrProtocol", err)
	}
	if _, err := os.Stat(sub); err != nil {
		t.Errorf("directory gone after refused Unlink: %v", err)
	}

	// A FIFO must not block the opener (no reader on the other end).
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	refuse(t, fifo, ErrProtocol)
	if err := within(t, 3*time.Second, "Unlink(fifo)", func() error { return Unlink(fifo) }); !errors.Is(err, ErrProtocol) {
		t.Errorf("Unlink(fifo) = %v, want ErrProtocol", err)
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&fs.ModeNamedPipe == 0 {
		t.Errorf("FIFO gone or changed after refused Unlink: %v", err)
	}

	// A character device.
	if _, err := os.Stat("/dev/null"); err == nil {
		l, err := openWithin(t, 3*time.Second, "/dev/null", Options{Create: true})
		if err == nil {
			l.Close()
			t.Fatal("Open(/dev/null) succeeded")
		}
		if !errors.Is(err, ErrProtocol) {
			t.Errorf("Open(/dev/null) = %v, want ErrProtocol", err)
		}
	}
}

// A segment whose state says it was removed, but whose file is still
// there (its remover died between the two steps, or memory was scribbled
// on), must not make Open spin forever: it should fail within the open
// deadline. The attempt runs in a helper, so a hang can be killed.
func TestOpenRemovedState(t *testing.T) {
	b := segmentBytes(t, 64, false, nil)
	put32(b, offSegState, segRemoved)
	path := writeSeg(t, t.TempDir(), "removed", b)
	cmd, _, out := startIO(t, "seg-open", path)
	select {
	case line, ok := <-out.ch:
		if !ok || !strings.HasPrefix(line, "result ") || strings.HasPrefix(line, "result 0 ") {
			t.Errorf("helper said %q, want an error", line)
		}
		cmd.Wait()
	case <-time.After(8 * time.Second):
		t.Errorf("Open of a file in segRemoved state did not return within 8 s")
	}
}

// A symlink planted at the lock path is never followed: not to open, not
// to create, not to unlink (the filelock CVE-2025-68146 pattern).
func TestOpenRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	good := segmentBytes(t, 64, false, nil)

	for _, tc := range []struct {
		name   string
		target []byte // nil: dangling link
	}{
		{"to a valid segment", good},
		{"to a precious file", []byte("precious data\n")},
		{"dangling", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub := t.TempDir()
			target := filepath.Join(sub, "target")
			if tc.target != nil {
				writeSeg(t, sub, "target", tc.target)
			}
			link := filepath.Join(dir, "link-"+strconv.Itoa(int(nameSeq.Add(1))))
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}
			var before fileState
			if tc.target != nil {
				before = snapshot(t, target)
			}
			for _, opt := range []Options{{}, {Create: true}, {Create: true, Exclusive: true}} {
				l, err := openWithin(t, 3*time.Second, link, opt)
				if err == nil {
					l.Close()
					t.Errorf("Open(symlink, %+v) succeeded", opt)
					continue
				}
				want := error(syscall.ELOOP)
				if opt.Exclusive {
					want = fs.ErrExist // O_CREAT|O_EXCL refuses any existing name, links included
				}
				if !errors.Is(err, want) {
					t.Errorf("Open(symlink, %+v) = %v, want %v", opt, err, want)
				}
			}
			if err := Unlink(link); !errors.Is(err, syscall.ELOOP) {
				t.Errorf("Unlink(symlink) = %v, want ELOOP", err)
			}
			if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
				t.Errorf("symlink gone or replaced: %v", err)
			}
			if tc.target != nil {
				before.check(t, target)
			} else if _, err := os.Lstat(target); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("dangling symlink target was created (err %v)", err)
			}
		})
	}

	// The same with a bare name: the link sits in ShmDir.
	t.Run("bare name", func(t *testing.T) {
		name := uniqueName(t)
		path, err := ResolvePath(name)
		if err != nil {
			t.Fatal(err)
		}
		target := filepath.Join(t.TempDir(), "victim")
		if err := os.Symlink(target, path); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(path) })
		l, err := openWithin(t, 3*time.Second, name, Options{Create: true})
		if err == nil {
			l.Close()
			t.Fatal("Open through a planted symlink succeeded")
		}
		if !errors.Is(err, syscall.ELOOP) {
			t.Errorf("Open = %v, want ELOOP", err)
		}
		if _, err := os.Lstat(target); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("symlink target was created (err %v)", err)
		}
	})
}

// helperAsUser opens each path of args[1:] as an unprivileged user, with
// Options.MultiUser if args[0] is "multi", and reports the errno.
func helperAsUser(args []string) {
	for _, path := range args[1:] {
		l, err := Open(path, Options{MultiUser: args[0] == "multi"})
		if err == nil {
			err = l.Acquire(1, ModeWrite, 0)
			if err == nil {
				err = l.Release(1)
			}
			l.Close()
		}
		fmt.Printf("%s %d\n", filepath.Base(path), Errno(err))
	}
}

// Access control is the file's: a user without write permission cannot
// attach, whatever the file holds. Needs root to run a helper as nobody.
// The helper opens with MultiUser, so that only the kernel's permission
// check is at play here; owner_test.go tests the default refusals.
func TestOpenAsOtherUser(t *testing.T) {
	dir, bin := asUserBinary(t)
	good := segmentBytes(t, 64, false, nil)
	mk := func(name string, mode os.FileMode, owner int) string {
		p := writeSeg(t, dir, name, good)
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, owner, owner); err != nil {
			t.Fatal(err)
		}
		return p
	}
	files := []struct {
		path string
		want syscall.Errno
	}{
		{mk("root0600", 0o600, 0), syscall.EACCES},       // a default lock of another user
		{mk("root0644", 0o644, 0), syscall.EACCES},       // readable is not enough
		{mk("own0444", 0o444, otherUID), syscall.EACCES}, // a read-only file of one's own
		{mk("root0666", 0o666, 0), 0},                    // shared on purpose
		{mk("own0600", 0o600, otherUID), 0},              // one's own lock
		{filepath.Join(dir, "missing"), syscall.ENOENT},
	}
	var before []fileState
	args := []string{"multi"}
	for _, f := range files {
		args = append(args, f.path)
		if f.want != syscall.ENOENT {
			before = append(before, snapshot(t, f.path))
		}
	}
	out, err := asUserCmd(t, bin, "seg-asuser", args...).Output()
	if err != nil {
		t.Fatalf("helper as uid %d: %v", otherUID, err)
	}
	got := strings.Fields(string(out))
	if len(got) != 2*len(files) {
		t.Fatalf("helper output %q", out)
	}
	for i, f := range files {
		if got[2*i] != filepath.Base(f.path) || got[2*i+1] != strconv.Itoa(int(f.want)) {
			t.Errorf("uid %d opening %s: errno %s, want %d (%v)", otherUID, got[2*i], got[2*i+1], int(f.want), f.want)
		}
	}
	// Refused files are untouched (the accepted ones carry a recorded
	// hold generation now, which is fine).
	for i, f := range files[:3] {
		before[i].check(t, f.path)
	}
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func TestInvalidNames(t *testing.T) {
	names := map[string]string{
		"empty":            "",
		"NUL":              "a\x00b",
		"NUL in path":      "/tmp/a\x00b",
		"dot":              ".",
		"dotdot":           "..",
		"too long":         strings.Repeat("x", maxNameLen+1),
		"path too long":    "/" + strings.Repeat("a/", unix.PathMax/2),
		"dotdot component": "/tmp/../etc/prwlock-x",
		"leading dotdot":   "../prwlock-x",
		"inner dotdot":     "a/../prwlock-x",
		"trailing dotdot":  "/tmp/..",
		"directory":        "/tmp/prwlock-dir/",
	}
	before := shmEntries()
	for what, name := range names {
		if _, err := ResolvePath(name); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: ResolvePath(%q) = %v, want ErrInvalid", what, name, err)
		}
		for _, opt := range []Options{{}, {Create: true}} {
			l, err := Open(name, opt)
			if err == nil {
				l.Close()
				t.Errorf("%s: Open(%q) succeeded", what, name)
			} else if !errors.Is(err, ErrInvalid) || !errors.Is(err, syscall.EINVAL) {
				t.Errorf("%s: Open(%q) = %v, want ErrInvalid", what, name, err)
			}
		}
		if err := Unlink(name); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Unlink(%q) = %v, want ErrInvalid", what, name, err)
		}
	}
	if left := newEntries(before, shmEntries()); len(left) > 0 {
		t.Errorf("invalid names created files: %v", left)
	}

	// The longest bare name is valid and fits NAME_MAX with the prefix.
	long := uniqueName(t)
	long += strings.Repeat("y", maxNameLen-len(long))
	l, err := Open(long, Options{Create: true, Exclusive: true})
	if err != nil {
		t.Fatalf("Open(%d-byte name): %v", len(long), err)
	}
	l.Close()
	if err := Unlink(long); err != nil {
		t.Errorf("Unlink(%d-byte name): %v", len(long), err)
	}

	// Options are validated too, and nothing is created.
	for _, opt := range []Options{
		{Create: true, Perm: 0o1777},
		{Create: true, Perm: 0o4600},
		{Create: true, Capacity: -1},
		{Create: true, Capacity: MaxCapacity + 1},
	} {
		name := uniqueName(t)
		if l, err := Open(name, opt); !errors.Is(err, ErrInvalid) {
			if err == nil {
				l.Close()
				Unlink(name)
			}
			t.Errorf("Open with %+v = %v, want ErrInvalid", opt, err)
		}
	}
}

func TestUnlinkRefusesForeignFile(t *testing.T) {
	dir := t.TempDir()
	for _, data := range [][]byte{nil, []byte("not a lock"), make([]byte, 8192)} {
		path := writeSeg(t, dir, "foreign"+strconv.Itoa(len(data)), data)
		before := snapshot(t, path)
		if err := Unlink(path); !errors.Is(err, ErrProtocol) {
			t.Errorf("Unlink(%d-byte foreign file) = %v, want ErrProtocol", len(data), err)
		}
		before.check(t, path)
	}
	if err := Unlink(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Unlink(missing) = %v, want ErrNotExist", err)
	}
	// A real lock is removed, even while open; the open handle keeps working.
	path := filepath.Join(dir, "real")
	l, err := Open(path, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := Unlink(path); err != nil {
		t.Fatalf("Unlink(real lock) = %v", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("lock file still there after Unlink: %v", err)
	}
	if err := l.Acquire(1, ModeWrite, 0); err != nil {
		t.Errorf("Acquire after Unlink: %v", err)
	}
	l.Release(1)
}

// Created files get exactly the requested mode, whatever the umask.
func TestCreatePermissions(t *testing.T) {
	old := unix.Umask(0)
	defer unix.Umask(old)
	for _, umask := range []int{0, 0o022, 0o077, 0o777} {
		for _, perm := range []uint32{0, 0o600, 0o640, 0o644, 0o660, 0o666, 0o400} {
			unix.Umask(umask)
			opt := Options{Create: true, Perm: perm, MultiUser: perm&0o022 != 0}
			l, err := Open(filepath.Join(t.TempDir(), "lock"), opt)
			unix.Umask(0)
			if err != nil {
				t.Fatalf("umask %#o perm %#o: %v", umask, perm, err)
			}
			fi, err := os.Stat(l.Path())
			if err != nil {
				t.Fatal(err)
			}
			want := fs.FileMode(perm)
			if perm == 0 {
				want = 0o600
			}
			if fi.Mode() != want {
				t.Errorf("umask %#o perm %#o: mode %v, want %v", umask, perm, fi.Mode(), want)
			}
			l.Close()
		}
	}
	// Anonymous locks are 0600 too.
	unix.Umask(0)
	l, err := CreateAnonymous(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if fi, err := os.Stat(l.Path()); err != nil || fi.Mode() != 0o600 {
		t.Errorf("anonymous lock mode %v (err %v), want 0600", fi.Mode(), err)
	}
}

// Shared-memory words of the creation race (beyond those of main_test.go).
const (
	wUp    = 8 // helpers started
	wGate  = 9 // 1: open now; 2: hammer now
	wRacer = 10
)

const raceRounds = 40

func spinUntil(p *int64, v int64, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for atomic.LoadInt64(p) < v {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Microsecond)
	}
	return true
}

// helperCreationRace: args name shared-path.
func helperCreationRace(args []string) {
	m := mapShared(args[1])
	atomic.AddInt64(m.word(wUp), 1)
	if !spinUntil(m.word(wGate), 1, 20*time.Second) {
		fmt.Println("gate 1 never opened")
		os.Exit(1)
	}
	l, err := Open(args[0], Options{Create: true})
	if err != nil {
		fmt.Println("err", err)
		os.Exit(1)
	}
	created := atomic.LoadInt64(l.seg.i64(offCreated))
	fmt.Println("ok", l.Token(), created)
	if !spinUntil(m.word(wGate), 2, 20*time.Second) {
		fmt.Println("gate 2 never opened")
		os.Exit(1)
	}
	o := gettid()
	for i := 0; i < raceRounds; i++ {
		if err := l.Acquire(o, ModeWrite, 10*time.Second); err != nil {
			fmt.Println("err write", err)
			os.Exit(1)
		}
		if atomic.AddInt64(m.word(wWriters), 1) != 1 || atomic.LoadInt64(m.word(wReaders)) != 0 {
			atomic.AddInt64(m.word(wViolations), 1)
		}
		a := atomic.LoadInt64(m.word(wA))
		atomic.StoreInt64(m.word(wA), a+1)
		runtime.Gosched()
		atomic.StoreInt64(m.word(wB), a+1)
		atomic.AddInt64(m.word(wWriters), -1)
		atomic.AddInt64(m.word(wOps), 1)
		l.Release(o)

		if err := l.Acquire(o, ModeRead, 10*time.Second); err != nil {
			fmt.Println("err read", err)
			os.Exit(1)
		}
		atomic.AddInt64(m.word(wReaders), 1)
		if atomic.LoadInt64(m.word(wWriters)) != 0 || atomic.LoadInt64(m.word(wA)) != atomic.LoadInt64(m.word(wB)) {
			atomic.AddInt64(m.word(wViolations), 1)
		}
		atomic.AddInt64(m.word(wReaders), -1)
		atomic.AddInt64(m.word(wOps), 1)
		l.Release(o)
	}
	fmt.Println("done")
	l.Close()
}

// Sixteen processes race to create the same fresh name: all of them open
// one and the same initialised segment, and it excludes them mutually.
func TestCreationRace(t *testing.T) {
	const n = 16
	name := uniqueName(t)
	t.Cleanup(func() { Unlink(name) })
	m := newSharedMem(t)
	var cmds []*exec.Cmd
	var outs []*lineReader
	for i := 0; i < n; i++ {
		cmd, _, lr := startIO(t, "seg-race", name, m.path)
		cmds, outs = append(cmds, cmd), append(outs, lr)
	}
	waitFor(t, 30*time.Second, "helpers to start", func() bool { return atomic.LoadInt64(m.word(wUp)) == n })
	atomic.StoreInt64(m.word(wGate), 1)
	var token, created string
	for i, lr := range outs {
		f := strings.Fields(lr.expect(t, "ok ", 20*time.Second))
		if len(f) != 3 {
			t.Fatalf("helper %d said %q", i, f)
		}
		if i == 0 {
			token, created = f[1], f[2]
		} else if f[1] != token || f[2] != created {
			t.Errorf("helper %d opened %s created %s; helper 0 opened %s created %s", i, f[1], f[2], token, created)
		}
	}
	l, err := Open(name, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Token() != token {
		t.Errorf("test opened %s, helpers %s", l.Token(), token)
	}
	if c := strconv.FormatInt(atomic.LoadInt64(l.seg.i64(offCreated)), 10); c != created {
		t.Errorf("creation time now %s, helpers saw %s: the segment was initialised twice", c, created)
	}
	st, err := l.Stats()
	if err != nil || st.Attached != n+1 {
		t.Errorf("Stats().Attached = %d (err %v), want %d", st.Attached, err, n+1)
	}
	atomic.StoreInt64(m.word(wGate), 2)
	for i, lr := range outs {
		lr.expect(t, "done", 60*time.Second)
		if err := cmds[i].Wait(); err != nil {
			t.Errorf("helper %d: %v", i, err)
		}
	}
	if v := atomic.LoadInt64(m.word(wViolations)); v != 0 {
		t.Errorf("%d mutual exclusion violations", v)
	}
	if ops := atomic.LoadInt64(m.word(wOps)); ops != 2*raceRounds*n {
		t.Errorf("%d critical sections, want %d", ops, 2*raceRounds*n)
	}
	if st, err := l.Stats(); err != nil || st.Attached != 1 || st.UsedSlots != 0 {
		t.Errorf("after the helpers left: %+v (err %v)", st, err)
	}
}

// helperAttach opens a token, reports, and then obeys commands on stdin:
// "read" (take read), "write" (take write), "close", "exit".
func helperAttach(args []string) {
	l, err := OpenToken(args[0])
	if err != nil {
		fmt.Println("err", err)
		os.Exit(1)
	}
	st, _ := l.Stats()
	fmt.Println("attached", st.Attached)
	o := gettid()
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "read":
			fmt.Println("read", int(Errno(l.Acquire(o, ModeRead, 5*time.Second))))
		case "write":
			fmt.Println("write", int(Errno(l.Acquire(o, ModeWrite, 5*time.Second))))
		case "stats":
			st, _ := l.Stats()
			fmt.Println("stats", st.Attached)
		case "close":
			fmt.Println("closed", int(Errno(l.Close())))
		case "exit":
			return
		}
	}
}

// attachHelper starts helperAttach on token.
func attachHelper(t *testing.T, token string) (*exec.Cmd, io.WriteCloser, *lineReader) {
	t.Helper()
	return startIO(t, "seg-attach", token)
}

func say(t *testing.T, w io.Writer, cmd string) {
	t.Helper()
	if _, err := io.WriteString(w, cmd+"\n"); err != nil {
		t.Fatal(err)
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func TestAnonymousLifetime(t *testing.T) {
	t.Run("helper closes last", func(t *testing.T) {
		l, err := CreateAnonymous(Options{})
		if err != nil {
			t.Fatal(err)
		}
		path := l.Path()
		if !strings.HasPrefix(path, ShmDir+"/"+anonPrefix) || !l.Anonymous() {
			t.Errorf("anonymous lock at %s (Anonymous=%v)", path, l.Anonymous())
		}
		cmd, in, out := attachHelper(t, l.Token())
		out.expect(t, "attached 2", 10*time.Second)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if !exists(path) {
			t.Fatal("file removed while a helper still had it open")
		}
		say(t, in, "stats")
		out.expect(t, "stats 1", 5*time.Second)
		say(t, in, "close")
		out.expect(t, "closed 0", 5*time.Second)
		if exists(path) {
			t.Error("file still there after the last user closed")
		}
		say(t, in, "exit")
		if err := cmd.Wait(); err != nil {
			t.Error(err)
		}
	})
	t.Run("creator closes last", func(t *testing.T) {
		l, err := CreateAnonymous(Options{})
		if err != nil {
			t.Fatal(err)
		}
		path := l.Path()
		cmd, in, out := attachHelper(t, l.Token())
		out.expect(t, "attached 2", 10*time.Second)
		say(t, in, "close")
		out.expect(t, "closed 0", 5*time.Second)
		say(t, in, "exit")
		if err := cmd.Wait(); err != nil {
			t.Error(err)
		}
		if !exists(path) {
			t.Fatal("file removed while the creator still had it open")
		}
		l.Close()
		if exists(path) {
			t.Error("file still there after the last user closed")
		}
	})
	for _, hold := range []string{"", "read", "write"} {
		t.Run("helper SIGKILLed holding "+hold, func(t *testing.T) {
			l, err := CreateAnonymous(Options{})
			if err != nil {
				t.Fatal(err)
			}
			path := l.Path()
			cmd, in, out := attachHelper(t, l.Token())
			out.expect(t, "attached 2", 10*time.Second)
			if hold != "" {
				say(t, in, hold)
				out.expect(t, hold+" 0", 5*time.Second)
			}
			cmd.Process.Kill()
			cmd.Wait()
			// The creator can still use it: the dead holder is recovered.
			err = l.Acquire(1, ModeWrite, 2*time.Second)
			if hold == "write" {
				if !errors.Is(err, ErrOwnerDead) {
					t.Errorf("Acquire after the writer died: %v, want ErrOwnerDead", err)
				}
			} else if err != nil {
				t.Errorf("Acquire after the helper died: %v", err)
			}
			l.Release(1)
			if st, _ := l.Stats(); st.Attached != 1 {
				t.Errorf("Attached = %d after the helper died, want 1", st.Attached)
			}
			l.Close()
			if exists(path) {
				t.Error("file left after the creator closed behind a killed helper")
			}
		})
	}
}

func TestTokens(t *testing.T) {
	l, err := CreateAnonymous(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tok := l.Token()

	// A token opens the very same segment in-process too.
	l2, err := OpenToken(tok)
	if err != nil {
		t.Fatalf("OpenToken(own token): %v", err)
	}
	if err := l.Acquire(1, ModeWrite, 0); err != nil {
		t.Fatal(err)
	}
	if err := l2.Acquire(2, ModeRead, 0); !errors.Is(err, ErrBusy) {
		t.Errorf("second handle read while the first holds write: %v, want ErrBusy", err)
	}
	l.Release(1)
	l2.Close()

	f := strings.SplitN(tok, ":", 5)
	if len(f) != 5 {
		t.Fatalf("token %q", tok)
	}
	v := strconv.Itoa(layoutVersion)
	bad := map[string]error{
		"":                                    ErrInvalid,
		"prwlock":                             ErrInvalid,
		"prwlock:" + v + ":2:3":               ErrInvalid,
		"lockprw:" + strings.Join(f[1:], ":"): ErrInvalid,
		"prwlock:" + v + ":x:" + f[3] + ":" + f[4]:                                       ErrInvalid,
		"prwlock:" + v + ":" + f[2] + ":-1:" + f[4]:                                      ErrInvalid,
		"prwlock:" + v + ":" + f[2] + ":" + f[3] + ":rel":                                ErrInvalid,
		"prwlock:" + v + ":" + f[2] + ":" + f[3] + ":":                                   ErrInvalid,
		"prwlock:" + v + ":" + f[2] + ":" + f[3] + ":/tmp/../" + f[4][1:]:                ErrInvalid,
		"prwlock:" + v + ":" + f[2] + ":" + f[3] + ":" + f[4] + "\x00":                   ErrInvalid,
		"prwlock:" + v + ":" + f[2] + ":" + f[3] + "1:" + f[4]:                           fs.ErrNotExist, // wrong inode
		"prwlock:" + v + ":" + f[2] + ":" + f[3] + ":" + f[4] + "-gone":                  fs.ErrNotExist,
		"prwlock:" + v + ":" + f[2] + ":" + f[3] + ":" + f[4] + strings.Repeat("x", 300): syscall.ENAMETOOLONG,
	}
	// Every other layout version, older or newer, is refused as a protocol
	// mismatch.
	for _, other := range []int{0, 2, 3, 4, 5, 6, layoutVersion + 1} {
		if other != layoutVersion {
			bad["prwlock:"+strconv.Itoa(other)+":"+strings.Join(f[2:], ":")] = ErrProtocol
		}
	}
	for tk, want := range bad {
		l, err := OpenToken(tk)
		if err == nil {
			l.Close()
			t.Errorf("OpenToken(%q) succeeded", tk)
			continue
		}
		if !errors.Is(err, want) {
			t.Errorf("OpenToken(%q) = %v, want %v", tk, err, want)
		}
	}

	// A token names one file: after the path is replaced by another lock,
	// the token no longer opens anything.
	dir := t.TempDir()
	path := filepath.Join(dir, "named")
	a, err := Open(path, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close() // keeps the old inode alive, so its number cannot be reused
	old := a.Token()
	b, err := Open(path+".new", Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	if l, err := OpenToken(old); !errors.Is(err, fs.ErrNotExist) {
		if err == nil {
			l.Close()
		}
		t.Errorf("OpenToken of a replaced file = %v, want ErrNotExist", err)
	}
	if err := Unlink(path); err != nil {
		t.Fatal(err)
	}
	if l, err := OpenToken(old); !errors.Is(err, fs.ErrNotExist) {
		if err == nil {
			l.Close()
		}
		t.Errorf("OpenToken of a removed file = %v, want ErrNotExist", err)
	}
}
