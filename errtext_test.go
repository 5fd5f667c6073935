package main

import (
	"errors"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/prwlock/prwlock/lock"
)

// The words for each error code have one source: prw_strerror in shim.c.
// The Go engine's sentinels (lock/errors.go) say the same; the Python
// package asks the library (tests/python/test_api.py holds it to that).
// Where a language adds its own advice (how to raise the capacity, which
// option shares a lock between users), the head of the message, before
// the first ": " or " (", still agrees.

var strerrorCase = regexp.MustCompile(`case (\w+):\s*return ((?:"(?:[^"\\]|\\.)*"\s*(?:PRW_STR\(\w+\)\s*)?)+);`)
var cString = regexp.MustCompile(`"((?:[^"\\]|\\.)*)"`)

// cMessages returns prw_strerror's message for each errno name of shim.c.
func cMessages(t *testing.T) map[string]string {
	t.Helper()
	src, err := os.ReadFile("shim.c")
	if err != nil {
		t.Fatal(err)
	}
	body := string(src)
	start := strings.Index(body, "const char *prw_strerror(int err) {")
	if start < 0 {
		t.Fatal("prw_strerror not found in shim.c")
	}
	body = body[start:]
	body = body[:strings.Index(body, "\n}\n")]
	msgs := map[string]string{}
	for _, m := range strerrorCase.FindAllStringSubmatch(body, -1) {
		var b strings.Builder
		for _, lit := range cString.FindAllStringSubmatch(m[2], -1) {
			s, err := strconv.Unquote(`"` + lit[1] + `"`)
			if err != nil {
				t.Fatalf("%s: %v", m[1], err)
			}
			b.WriteString(s)
		}
		msgs[m[1]] = b.String()
	}
	if len(msgs) < 15 {
		t.Fatalf("parsed only %d cases of prw_strerror", len(msgs))
	}
	return msgs
}

func messageHead(s string) string {
	for _, sep := range []string{": ", " ("} {
		if i := strings.Index(s, sep); i >= 0 {
			s = s[:i]
		}
	}
	return s
}

func TestErrorTextAgreesWithC(t *testing.T) {
	c := cMessages(t)
	for _, tc := range []struct {
		err   error
		errno syscall.Errno
		name  string // the errno's name in shim.c
		exact bool   // false: the language adds its own advice
	}{
		{lock.ErrBusy, syscall.EBUSY, "EBUSY", true},
		{lock.ErrTimeout, syscall.ETIMEDOUT, "ETIMEDOUT", true},
		{lock.ErrDeadlock, syscall.EDEADLK, "EDEADLK", true},
		{lock.ErrNotHeld, syscall.EPERM, "EPERM", true},
		{lock.ErrOwnerDead, syscall.EOWNERDEAD, "EOWNERDEAD", true},
		{lock.ErrProtocol, syscall.EPROTO, "EPROTO", true},
		{lock.ErrClosed, syscall.EBADF, "EBADF", true},
		{lock.ErrInvalid, syscall.EINVAL, "EINVAL", true},
		{lock.ErrSliceEnded, syscall.EINTR, "EINTR", true},
		{lock.ErrLost, syscall.ENOTRECOVERABLE, "ENOTRECOVERABLE", true},
		{lock.ErrUnavailable, syscall.ENOTCONN, "ENOTCONN", true},
		{lock.ErrFull, syscall.EAGAIN, "EAGAIN", false},
		{lock.ErrPermission, syscall.EACCES, "EACCES", false},
		{lock.ErrNoFence, syscall.ENOTSUP, "ENOTSUP", false},
	} {
		want, ok := c[tc.name]
		if !ok {
			t.Errorf("prw_strerror has no case for %s", tc.name)
			continue
		}
		if en := tc.err.(interface{ Errno() syscall.Errno }).Errno(); en != tc.errno || !errors.Is(tc.err, en) {
			t.Errorf("%v carries %v, not %s", tc.err, en, tc.name)
		}
		got := strings.TrimPrefix(tc.err.Error(), "prwlock: ")
		if tc.exact && got != want {
			t.Errorf("%s: Go says %q, C says %q", tc.name, got, want)
		}
		if !tc.exact && messageHead(got) != messageHead(want) {
			t.Errorf("%s: Go's head %q, C's %q", tc.name, messageHead(got), messageHead(want))
		}
	}
}
