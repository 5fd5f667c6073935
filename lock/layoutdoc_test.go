package lock

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

// layout.go is the contract that both engines follow, and its comment is
// where a reader checks them line by line. TestLayoutDocumented holds that
// comment to the constants: every header and slot field at its offset, the
// version it names, and each section the engines' comments point to.
func TestLayoutDocumented(t *testing.T) {
	src, err := os.ReadFile("layout.go")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(src)
	line := func(re string) bool { return regexp.MustCompile(`(?m)` + re).MatchString(doc) }

	header := map[string]int{
		"magic": offMagic, "version": offVersion, "slotSize": offSlotSize, "size": offSize,
		"capacity": offCapacity, "attachCap": offAttachCap, "segState": offSegState, "flags": offFlags,
		"closerPID": offCloserPID, "closerTag": offCloserTag, "created": offCreated, "state": offState,
		"readSeq": offReadSeq, "writeSeq": offWriteSeq, "drainSeq": offDrainSeq, "recoveries": offRecoveries,
		"ownerDeaths": offOwnerDeaths, "usedWords": offUsedWords, "bitmap": offBitmap,
	}
	for name, off := range header {
		if !line(fmt.Sprintf(`^//\t%d +\S+ +%s\b`, off, regexp.QuoteMeta(name))) {
			t.Errorf("header field %s at offset %d is not in the Segment table", name, off)
		}
	}
	slot := map[string]int{
		"owner": slotOwner, "ctl": slotCtl, "count": slotCount, "sflags": slotFlags,
		"pstart": slotPstart, "pidns": slotPidns, "since": slotSince, "holder": slotHolder, "sleep": slotSleep,
	}
	for name, off := range slot {
		if !line(fmt.Sprintf(`^//\t%d +%s +\S`, off, regexp.QuoteMeta(name))) {
			t.Errorf("slot field %s at offset %d is not in the Slots table", name, off)
		}
	}
	if !strings.Contains(doc, fmt.Sprintf("layoutVersion (%d)", layoutVersion)) {
		t.Errorf("the Segment table does not name layout version %d", layoutVersion)
	}
	for _, section := range []string{
		"# Segment", "# The lock word", "# Slots", "# Kept slots", "Phases:", "Among writers:",
		"Waking readers:", "Waking writers:", "Claim order:", "Free order:", "Hand-off:", "Creation:",
		"# Lone writers", "# Attachments", "# Liveness",
	} {
		if !strings.Contains(doc, "// "+section) {
			t.Errorf("layout.go has no section %q", section)
		}
	}
}
