/* Prototypes of cs.c (the chaos test's critical-section checks). */
#ifndef PRW_CHAOS_CS_H
#define PRW_CHAOS_CS_H
#include <stdint.h>
int64_t cs_now(void);
void *cs_map(const char *path);
int cs_stop(void *base);
void cs_hello(void *base, int slot);
int64_t cs_wait_begin(void *base, int slot, int lock, int write);
void cs_wait_end(void *base, int slot, int64_t start, int outcome, int err);
void cs_write(void *base, int slot, int lock, int told, uint64_t x, int n);
void cs_read(void *base, int slot, int lock, int told, int n);
void cs_downgrading(void *base, int slot, int lock);
void cs_downgraded(void *base, int slot, int ok);
int cs_exec_due(void *base, int slot);
void cs_leave(void *base, int slot);
void cs_released(void *base, int slot, int err);
#endif
