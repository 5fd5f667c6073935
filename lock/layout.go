package lock

// This file is the shared-memory protocol, layout version 6. Every process
// that maps a prwlock segment, in any language, must follow it exactly.
// All multi-byte fields are native-endian (segments never leave the
// machine) and every field below is accessed with atomic, sequentially
// consistent operations unless marked "plain".
//
// # Segment
//
// A segment is a regular file mapped MAP_SHARED, page-aligned in size:
//
//	offset  size  field
//	0       8     magic       "PRWLOCK\x00"; written last by the creator
//	8       4     version     layoutVersion (6); a segment of any other
//	                          version is refused with EPROTO, never touched
//	12      4     slotSize    64
//	16      8     size        total file size in bytes
//	24      4     capacity    holder slots, multiple of 64, 64..MaxCapacity
//	                          (DefaultCapacity unless the creator chose)
//	28      4     attachCap   attachment entries (== capacity)
//	32      4     segState    segNew, segReady, segClosing, segRemoved
//	36      4     flags       flagAnonymous
//	40      4     closerPID   pid that set segClosing (to recover a dead closer)
//	44      4     closerTag   the tag of that process's key (see Slots)
//	48      8     created     CLOCK_REALTIME ns of creation (plain, informative)
//	64      4     state       the lock word, see below
//	128     4     readSeq     futex: readers sleep here
//	192     4     writeSeq    futex: writers waiting for the writer field sleep here
//	256     4     drainSeq    futex: the pending writer sleeps here until readers leave
//	320     8     recoveries  dead-process slots cleaned up
//	328     8     ownerDeaths writers that died holding the lock
//	336     4     usedWords   bitmap words that may have a bit set, see Slots
//	384     c/8   bitmap      one bit per slot: the slot may be in use
//	slotOff c*64  slots       holder table
//	attOff  c*32  attachments processes that have the segment open
//
// slotOff = align(384+capacity/8, 64); attOff = slotOff + 64*capacity;
// size = align(attOff + 32*capacity, 4096).
//
// Creation: the creator makes the file with O_EXCL, holds an OFD write lock
// on byte 0 while it initialises, sizes it, fills every field, then stores
// magic and finally segState = segReady. An opener waits (bounded) while
// that OFD lock is held and refuses, with EPROTO, any file whose magic,
// version, slot size, capacity or size disagree with this layout.
//
// # The lock word
//
//	bits 0..12   writer: 1 + index of the slot that owns the writer field, 0 if none
//	bit  16      stateReadersWaiting: a reader sleeps on readSeq
//	bit  17      stateWritersWaiting: a writer sleeps on writeSeq (see Waking writers)
//	bit  18      stateDrainWaiting: the pending writer sleeps on drainSeq; set
//	             only by the owner of the writer field, by CAS
//	bit  19      stateOwnerDead: a writer died holding the lock; the data may
//	             be inconsistent until a writer that was told releases
//
// Readers are not counted in the lock word: each holder publishes itself in
// its own slot, so a dead reader is recovered exactly by clearing its slot.
// A reader enters by storing slotRead in its slot and then loading the lock
// word; a writer claims the writer field with a CAS on the lock word and then
// scans the slots. With sequentially consistent operations at least one of
// them sees the other (Dekker), so no reader is ever inside with an active
// writer. A reader that sees a writer field backs off to slotWaitRead; one
// that sees it before it publishes may go to slotWaitRead at once.
//
// Phases: a writer that owns the field blocks new readers ("pending") and
// waits for slotRead and slotGranted holders to drain, then marks its slot
// slotWrite. On release it hands the lock to every waiting reader
// (slotWaitRead -> slotGranted by CAS, see Hand-off), then clears the
// field, then moves its slot on from slotWrite, so readers queued during a
// write phase enter before the next writer (those not running yet may lose
// that turn for one of their first 1 ms, see Hand-off), and a waiting
// writer blocks new readers: neither side starves. A writer holds write exactly while its
// slot is slotWrite and the field names it: a crash before the field is
// cleared leaves data that may be half written (recovery sets
// stateOwnerDead), one after it leaves a slotWrite slot that owns nothing,
// which recovery frees without a mark. Recursive reads never consult the
// lock word, so they cannot deadlock against a pending writer.
//
// Among writers: a writer stamps since when it first has to wait, and takes
// a free writer field only if no slotWaitWrite slot has an older non-zero
// since that is more than 4 ms (overtakeNs) in the past (ties: lower slot
// index first; a writer that never waited counts as youngest). So writers
// may overtake each other only while nobody has waited long: no writer
// starves, and a busy lock does not degrade into a convoy. (Engines that
// disagree on the bound still exclude each other and never starve a
// writer; only the order among writers differs.) A waiter may leave its slot
// queued while it is away (AcquireSlice), keeping its place.
//
// Waking readers: a reader about to sleep on readSeq sets
// stateReadersWaiting, reads readSeq, looks at its slot and the lock word
// once more, and sleeps only if it still waits (slotWaitRead), the field
// is taken and that word still has the bit; a clearing of the field
// removes the bit, adds 1 to readSeq and wakes every sleeping reader.
//
// Waking writers: a writer about to sleep on writeSeq stores 1 in its
// slot's sleep word, sets stateWritersWaiting, reads writeSeq, looks at the
// lock word and its sleep word once more, and sleeps, with the futex bitset
// writerBit(its slot) (FUTEX_WAIT_BITSET), only if that lock word still has
// the bit and its field is taken (or an older writer is due) and its sleep
// word is still 1; otherwise it looks again from the start. Whenever it
// goes on (woken, or not sleeping after all) it stores 0 in its sleep word.
// Whoever clears the writer field of a lock word with stateWritersWaiting
// set (a release, a give-up, a revocation) first finds the writer that is
// due: the slotWaitWrite slot, other than the field's owner, with the
// oldest since in the order above. It keeps stateWritersWaiting in the new
// lock word if another slotWaitWrite slot waits besides that one. After
// its CAS, if that writer's sleep word is 1, it takes it (CAS 1 -> 0), then
// adds 1 to writeSeq, then wakes the sleepers whose bitset shares that
// slot's bit (FUTEX_WAKE_BITSET); a sleep word of 0 means that writer is
// running, and it makes no call. With no slotWaitWrite slot, it adds 1 to
// writeSeq and wakes them all. Taking the field leaves the bit as it is,
// and only a clearing removes it. A writer that withdraws its wait wakes
// the one that is due if the field is free. So one release wakes at most
// one writer (and those that share its bit, which sleep again), and only
// one that may sleep; the bit left standing makes the next release wake
// the next. No sleeping writer is left without a wake on its way: the bit
// and its sleep word stood when it looked after reading writeSeq; every
// clearing after that look either keeps the bit (it is one of the others)
// for the clearing after, or takes its sleep word and only then moves
// writeSeq, which the sleeper read before, and wakes it. A sleep word left
// at 1 by a writer that died asleep costs its slot's next waiting writer
// one wake-up for nothing.
//
// # Slots (64 bytes, one cache line each)
//
//	0   owner   uint64  process key pid<<32 | tag, 0 = free. Claimed by CAS
//	                    0 -> key; only the claimer (or a recoverer that
//	                    replaced it by its marker) ever stores to it again
//	8   ctl     uint64  generation<<32 | slot state; the generation grows on
//	                    every claim, so a CAS with a stale ctl never hits a
//	                    reused slot
//	16  count   uint32  recursion depth of a read hold minus one (owner writes)
//	20  sflags  uint32  slotThreadOwner: holder is the kernel tid of the
//	                    thread that holds (so a dead thread can be told
//	                    from a live process)
//	24  pstart  uint64  owner process start time (clock ticks after boot)
//	32  pidns   uint64  inode of the owner's PID namespace (0 unknown)
//	40  since   int64   CLOCK_MONOTONIC ns when the hold or wait began (0 unknown)
//	48  holder  uint64  the owner inside the process: a thread id or an
//	                    owner the caller chose (informative, for inspection
//	                    and the thread check)
//	56  sleep   uint32  1 while the writer waiting in this slot may sleep
//	                    on writeSeq (see Waking writers); written by that
//	                    writer and taken back to 0 by the one who wakes it
//
// The process key's tag is tagOf(pstart, pidns): bits 30..16 hash the PID
// namespace inode, bits 15..0 hash the start time, bit 31 (tagMarker) is set
// only in a recoverer's marker. A pid reused by a later process has another
// start time, so its key differs from the dead owner's: a recoverer's CAS
// on a key it judged dead can never hit a new claim (no ABA). Both hashes
// are the top bits of the value times hashMul (64-bit wrap-around).
//
// Claim order: CAS owner, write pstart/pidns/since/count/sflags/holder,
// store ctl with the next generation and the first state, raise usedWords
// to at least the bit's word index + 1 (by CAS; it is never lowered), then
// set the bitmap bit. Every scan of the bitmap reads usedWords first and
// reads only the words below it (and below capacity/64): a bit beyond them
// is set after the scan read usedWords, so the scan may treat it as not yet
// set, exactly as it treats a bit set after it read that word. Claims start
// in the first word, so the scans of a lock whose owners fit in 64 slots
// read one word whatever the capacity.
//
// Free order: state = slotFree, clear the bitmap bit, CAS owner key -> 0
// (last; it fails harmlessly if a recoverer took the slot).
//
// The owner changes its own slot's ctl only by CAS from the (generation,
// state) it last set, so a hold that another process recovered (it judged
// the owner dead) is noticed at release and reported (ErrLost, ENOTRECOVERABLE)
// instead of overwriting whatever the slot holds now.
//
// Hand-off: a releasing writer (or a downgrading one) moves every
// slotWaitRead slot to slotGranted. The waiting reader accepts by CAS
// slotGranted -> slotRead; a pending writer draining readers counts
// slotGranted as a reader, but may revoke a grant (CAS slotGranted ->
// slotWaitRead) whose process is stopped
// (SIGSTOP, a debugger): a process that was only waiting never holds the
// lock up. Before it sleeps until the readers inside leave, a pending
// writer also revokes every grant not yet accepted whose reader began to
// wait (its since) less than 1 ms ago (starveNs): a reader that is not running
// then takes its turn at a later hand-off, once it runs, instead of
// holding every writer and every new reader up until the scheduler gets
// to it; a reader that has waited longer keeps its grant, so no reader
// waits much more than 1 ms beyond its scheduling. Exactly one of the
// two CASes wins, so a reader that runs never loses a grant it accepted.
// A revocation wakes nobody and sets no bit: the reader it concerns is not
// asleep on readSeq, or was woken already. A reader sleeps only if
// stateReadersWaiting stood in its last look (Waking readers), so the
// next clearing of the field wakes it, and grants are only made just
// before a clearing. Once it runs and finds slotWaitRead again, it
// announces itself before it sleeps, like any waiting reader.
//
// Likewise a pending writer whose process is stopped while it sleeps until
// readers leave (the drain bit set) may have the writer field taken away:
// another process clears the field and the drain bit by CAS (and resets
// the writer's since, so it queues again at the back). The pending writer
// leaves the drain by a CAS that clears the drain bit while it still owns
// the field; exactly one of the two CASes wins. A writer that found no
// reader never set the bit, so its field cannot be taken.
//
// # Kept slots (slotIdle)
//
// An owner that releases may keep its slot for its next hold instead of
// freeing it: it moves the slot to slotIdle by CAS, leaving owner,
// generation and bitmap bit as they are: a reader from slotRead; a writer
// from slotWrite, after it has cleared the writer field. An idle slot may
// be evicted and claimed by another owner, so it must never be named by the
// writer field: a claimer that found its own index there would believe it
// owned the field. Its next acquire moves the slot from slotIdle straight
// to slotRead or slotWaitWrite (or slotWrite, see Lone writers) by CAS, so
// an uncontended hold costs one CAS on its slot to enter and one to leave,
// on a cache line nobody else writes. An idle slot holds nothing and waits
// for nothing: scans, drains and inspection ignore it. Its since may be
// stale: the owner clears it when it takes the slot again, before it can
// matter.
//
// An idle slot can be taken away from its owner: by the owner's own
// process when the owner ends (a thread exits, a handle closes), by any
// process that finds the table full, and by a releasing writer whose
// hand-off scan meets more than keptScanMax idle slots (it evicts those
// past that many: every writer's scans pay for each idle slot, so a table
// where many processes each keep one must not make writes slow). Eviction is a CAS of ctl from
// (generation, slotIdle) to (generation, slotFree); the owner's own CAS
// from slotIdle then fails, so exactly one side wins, and an owner that
// lost its idle slot just claims another. The winner frees the slot as a
// recoverer does: CAS owner key -> its marker (only a recoverer that judged
// the owner dead can have changed it meanwhile, and then it finishes the
// free), clear the bitmap bit, store owner 0. A process frees its kept
// slots when it closes the segment or exits; those of a process that died
// without doing so are freed by eviction, or by recovery like any other
// slot of a dead owner (not counted in recoveries: nothing was held).
// An owner in a forked child must never use the idle slot its parent kept:
// the owner word is the parent's key.
//
// Any free slot may be claimed. The file is sized for its capacity, but
// tmpfs allocates a page only when it is first touched, so implementations
// should keep to the low end of the tables: this one starts a claim where
// the owner hashes among the first 64 slots (one page) and probes upward,
// and takes the first free attachment entry. A lock then costs memory for
// the owners that hold or wait at once, not for its capacity; scans go
// through the bitmap for the same reason, so they cost a word per 64 slots
// plus the slots in use.
//
// # Lone writers
//
// A writer that keeps an idle slot and finds nobody else there (the lock
// word all zero: no writer, no sleeper, no owner-dead mark; every other
// slot in use idle) may skip slotWaitWrite: it moves its slot slotIdle ->
// slotWrite, then takes the field by CAS from 0, then looks at the other
// slots again. If they are still all idle, it holds write: no reader can
// be inside, since a reader publishes itself before it looks at the lock
// word (Dekker, above). If anyone came between, it clears the field (waking
// whoever went to sleep on it), moves its slot back slotWrite -> slotIdle
// and queues like any writer. Its release, while the lock word names only
// it and every other slot in use is idle, clears the field by CAS and
// moves the slot slotWrite -> slotIdle. So an uncontended write pair is
// four CASes: two on its own slot, two on the lock word.
//
// Between its steps such a writer's slot is slotWrite without the field
// (before taking it, or after clearing it): it holds nothing, and
// inspection and recovery treat it so (no owner-dead mark). While it owns
// the field and looks again, a reader that came between may be published:
// a crash exactly then makes recovery set stateOwnerDead although nothing
// was written, which errs on the side of caution.
//
// # Attachments (32 bytes each)
//
//	0   pid     uint32  0 = free; claimed by CAS
//	4   refs    uint32  open handles... always 1 per process in version 1
//	8   pstart  uint64
//	16  pidns   uint64
//
// An anonymous segment is unlinked by the process that detaches last: it
// moves segState from segReady to segClosing, and if no live attachment
// remains, to segRemoved and unlinks the file; otherwise it moves segState
// back. A process that attaches registers first and then checks segState,
// so one of the two always sees the other.
//
// # Liveness
//
// A slot's owner is dead when no process with its pid exists, when every
// task of the thread group has exited (a zombie leader whose other
// threads still run is alive: pthread_exit on the main thread), when its
// start time differs from pstart (the pid was reused), or when the process
// no longer maps the segment (it exec'd, or unmapped it, while holding). A
// slot with slotThreadOwner whose thread no longer exists in a live process
// is dead too. Owners in another PID namespace than the observer's are
// never declared dead: a process cannot see into another PID namespace.
// The same rule applies to a marker and to a slot whose bitmap bit is
// clear (claim or free in progress), judged from the key's tag alone.
//
// A process that is stopped is alive, but it must not hold others up while
// it only waits: a waiting writer that others would defer to as the oldest
// loses its place (its since is reset to 0, "never waited"), a reader
// granted read while stopped has the grant revoked, and a pending writer
// stopped while it drains readers loses the writer field, as above. A stopped
// process that really holds the lock still blocks others: that is what
// holding means.
//
// Waiters run these checks whenever a poll interval has passed since their
// last check, whatever woke them.

const (
	layoutVersion = 6
	magicValue    = uint64('P') | uint64('R')<<8 | uint64('W')<<16 | uint64('L')<<24 |
		uint64('O')<<32 | uint64('C')<<40 | uint64('K')<<48 // "PRWLOCK\x00"

	slotSize   = 64
	attachSize = 32
	pageSize   = 4096

	// Header field offsets.
	offMagic       = 0
	offVersion     = 8
	offSlotSize    = 12
	offSize        = 16
	offCapacity    = 24
	offAttachCap   = 28
	offSegState    = 32
	offFlags       = 36
	offCloserPID   = 40
	offCloserTag   = 44
	offCreated     = 48
	offState       = 64
	offReadSeq     = 128
	offWriteSeq    = 192
	offDrainSeq    = 256
	offRecoveries  = 320
	offOwnerDeaths = 328
	offUsedWords   = 336
	offBitmap      = 384

	// Slot field offsets.
	slotOwner  = 0
	slotCtl    = 8
	slotCount  = 16
	slotFlags  = 20
	slotPstart = 24
	slotPidns  = 32
	slotSince  = 40
	slotHolder = 48
	slotSleep  = 56

	// Attachment field offsets.
	attPID    = 0
	attRefs   = 4
	attPstart = 8
	attPidns  = 16
)

// Segment states (segState).
const (
	segNew     = 0 // being initialised
	segReady   = 1 // usable
	segClosing = 2 // an anonymous segment's last user is deciding whether to unlink
	segRemoved = 3 // unlinked; attach must fail
)

// flagAnonymous marks a segment created by CreateAnonymous.
const flagAnonymous = 1

// Lock word bits.
const (
	stateWriterMask     = 0x1fff  // 1 + writer slot index; 0 = no writer
	stateReadersWaiting = 1 << 16 // a reader sleeps on readSeq
	stateWritersWaiting = 1 << 17 // a writer sleeps on writeSeq
	stateDrainWaiting   = 1 << 18 // the pending writer sleeps on drainSeq
	stateOwnerDead      = 1 << 19 // a writer died holding; data may be inconsistent
	stateKnownBits      = stateWriterMask | stateReadersWaiting | stateWritersWaiting | stateDrainWaiting | stateOwnerDead
)

func writerOf(s uint32) int             { return int(s&stateWriterMask) - 1 } // -1 if none
func hasWriter(s uint32) bool           { return s&stateWriterMask != 0 }
func withWriter(s uint32, i int) uint32 { return s&^stateWriterMask | uint32(i+1) }

// waitedBefore reports whether a writer whose wait began at sj (its since)
// in slot j comes before one whose wait began at si in slot i, in the order
// of "Among writers": an earlier non-zero since first, ties to the lower
// slot, a writer that never waited (since 0) after all that did.
func waitedBefore(sj int64, j int, si int64, i int) bool {
	switch {
	case sj == 0:
		return si == 0 && j < i
	case si == 0:
		return true
	}
	return sj < si || sj == si && j < i
}

// writerBit is the futex bitset with which the writer in slot i sleeps on
// writeSeq, and with which it is woken alone.
func writerBit(i int) uint32 { return 1 << (i % 32) }

// Slot states (low 32 bits of ctl).
const (
	slotFree      = 0 // claimed or being claimed/freed, holds nothing
	slotRead      = 1 // holds read (count levels)
	slotWaitRead  = 2 // waits for read; a releasing writer may hand it slotRead
	slotWaitWrite = 3 // waits for the writer field, or owns it and drains readers
	slotWrite     = 4 // holds write while the writer field names it (see Phases, Lone writers)
	slotGranted   = 5 // handed read by a releasing writer, not yet accepted
	slotIdle      = 6 // kept by its owner between holds; holds nothing (see Kept slots)
)

// keptScanMax is how many idle slots a releasing writer's hand-off scan
// leaves; it evicts those past it (see Kept slots).
const keptScanMax = 64

// slotThreadOwner (sflags) says holder is the kernel tid of the thread that
// holds or waits.
const slotThreadOwner = 1

// Process keys (slot owner words).
const (
	tagMarker = 1 << 31            // set only in a recoverer's marker
	hashMul   = 0x9e3779b97f4a7c15 // odd; spreads the hashed values
)

// tagOf is the tag of the process keys of a process that started at
// pstart in PID namespace pidns.
func tagOf(pstart, pidns uint64) uint32 {
	return uint32((pidns*hashMul)>>49)<<16 | uint32((pstart*hashMul)>>48)
}

func processKey(id ident) uint64 { return uint64(id.pid)<<32 | uint64(tagOf(id.pstart, id.pidns)) }
func markerKey(id ident) uint64  { return processKey(id) | tagMarker }
func keyPID(k uint64) uint32     { return uint32(k >> 32) }
func isMarker(k uint64) bool     { return k&tagMarker != 0 }

// sameNamespace reports whether key k, by its tag, belongs to PID namespace
// pidns: only then may its pid be judged.
func sameNamespace(k uint64, pidns uint64) bool {
	return uint32(k)>>16&0x7fff == tagOf(0, pidns)>>16
}

// startMatches reports whether key k's tag agrees with start time pstart.
func startMatches(k uint64, pstart uint64) bool {
	return uint32(k)&0xffff == tagOf(pstart, 0)&0xffff
}

func ctlState(c uint64) uint32      { return uint32(c) }
func ctlGen(c uint64) uint32        { return uint32(c >> 32) }
func makeCtl(gen, st uint32) uint64 { return uint64(gen)<<32 | uint64(st) }

// layoutFor computes the offsets and total size for a capacity.
func layoutFor(capacity int) (slotOff, attOff, size int) {
	slotOff = alignUp(offBitmap+capacity/8, 64)
	attOff = slotOff + slotSize*capacity
	size = alignUp(attOff+attachSize*capacity, pageSize)
	return
}

func alignUp(n, a int) int { return (n + a - 1) / a * a }

// normCapacity rounds a requested capacity to what the layout allows.
func normCapacity(c int) (int, error) {
	if c == 0 {
		c = DefaultCapacity
	}
	if c < 0 || c > MaxCapacity {
		return 0, detail(ErrInvalid, "capacity %d out of range 1..%d", c, MaxCapacity)
	}
	return alignUp(c, 64), nil
}
