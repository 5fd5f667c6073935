//go:build linux

package lock

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

var sysPageSize = os.Getpagesize()

// touchedPages reports which pages of the segment's file exist (see
// touchedPages.has); nil when the kernel cannot say.
func (s *segment) touchedPages() touchedPages {
	vec := make([]byte, (len(s.mem)+sysPageSize-1)/sysPageSize)
	// x/sys/unix has SYS_MINCORE but no wrapper.
	_, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&s.mem[0])), uintptr(len(s.mem)),
		uintptr(unsafe.Pointer(&vec[0])))
	if e != 0 {
		return touchedPages{}
	}
	return touchedPages{vec: vec, size: sysPageSize}
}
