package io.github.prwlock;

/**
 * A snapshot of a lock's state ({@code prw_info_t}). Holds of dead processes
 * still count until a waiter reclaims them.
 *
 * @param readers holders of read
 * @param writerPid the writer holding or draining the lock, else 0
 * @param writerTid its thread (or the low 32 bits of its owner), else 0
 * @param writerActive true: the writer holds the lock; false: it still waits for readers, or no writer
 * @param waitingReaders readers waiting
 * @param waitingWriters writers waiting, including a draining one
 * @param capacity holder slots; each holder or waiter uses one
 * @param usedSlots slots in use
 * @param attached processes that have the lock open
 * @param ownerDead acquisitions report that a writer died holding the lock
 * @param recoveries slots of dead processes reclaimed, ever
 * @param ownerDeaths writers that died holding the lock, ever
 */
public record LockInfo(int readers, int writerPid, int writerTid, boolean writerActive, int waitingReaders,
    int waitingWriters, int capacity, int usedSlots, int attached, boolean ownerDead, long recoveries,
    long ownerDeaths) {}
