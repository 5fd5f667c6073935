package lock

import (
	"encoding/binary"
	"unsafe"
)

func ptrAt(b []byte, off int) unsafe.Pointer { return unsafe.Pointer(&b[off]) }

// atomicMagic reads the magic from a header copy (not from the mapping).
func atomicMagic(hdr []byte) uint64 {
	if len(hdr) < 8 {
		return 0
	}
	return binary.NativeEndian.Uint64(hdr[offMagic:])
}

// checkHeader validates a copy of a segment header against the size of its
// file. ready is false (with no error) while the creator may still be
// initialising it: the magic is not there yet. Any header that can never
// become a valid version-1 segment fails with ErrProtocol.
func checkHeader(hdr []byte, fileSize int64) (ready bool, err error) {
	if len(hdr) < offState {
		if fileSize == 0 || int64(len(hdr)) == fileSize && allZero(hdr) {
			return false, nil // created, not yet sized or written
		}
		return false, detail(ErrProtocol, "file too short for a header (%d bytes)", fileSize)
	}
	ne := binary.NativeEndian
	magic := ne.Uint64(hdr[offMagic:])
	if magic == 0 {
		// The creator writes the magic last: fields without it are a
		// creation in progress, which the caller waits for (bounded).
		return false, nil
	}
	if magic != magicValue {
		return false, detail(ErrProtocol, "bad magic %#x: not a prwlock segment", magic)
	}
	if v := ne.Uint32(hdr[offVersion:]); v != layoutVersion {
		return false, detail(ErrProtocol, "layout version %d, this library speaks %d", v, layoutVersion)
	}
	if v := ne.Uint32(hdr[offSlotSize:]); v != slotSize {
		return false, detail(ErrProtocol, "slot size %d, expected %d", v, slotSize)
	}
	c := int64(ne.Uint32(hdr[offCapacity:]))
	if c < 64 || c > MaxCapacity || c%64 != 0 {
		return false, detail(ErrProtocol, "capacity %d out of range", c)
	}
	if ac := int64(ne.Uint32(hdr[offAttachCap:])); ac != c {
		return false, detail(ErrProtocol, "attachment capacity %d, expected %d", ac, c)
	}
	_, _, size := layoutFor(int(c))
	if sz := ne.Uint64(hdr[offSize:]); sz != uint64(size) || fileSize != int64(size) {
		return false, detail(ErrProtocol, "size %d (file %d), expected %d", sz, fileSize, size)
	}
	if f := ne.Uint32(hdr[offFlags:]); f&^flagAnonymous != 0 {
		return false, detail(ErrProtocol, "unknown flags %#x", f)
	}
	switch ss := ne.Uint32(hdr[offSegState:]); ss {
	case segReady, segClosing, segRemoved:
		return true, nil
	case segNew:
		return false, nil
	default:
		return false, detail(ErrProtocol, "unknown segment state %d", ss)
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
