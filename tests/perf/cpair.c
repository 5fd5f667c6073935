/* Uncontended pair cost of libprwlock through its C ABI.
 *   cc -O2 -I../../include cpair.c -L../../build -lprwlock -Wl,-rpath,$PWD/../../build -o /tmp/cpair
 *   [PRW_CAPACITY=N] /tmp/cpair [iterations [kind]]   kind: 0 read, 1 write, 2 try-read, 3 version,
 *                                                   4 is_anonymous; N: the lock's capacity
 * Prints ns per read pair, write pair, try-read pair and prw_version call
 * (median of 7 runs). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "prwlock.h"

static long long now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}
static prw_lock *L;
static volatile const char *sink;
static double run(int kind, long n) {
  long long t = now();
  for (long i = 0; i < n; i++) {
    switch (kind) {
    case 0: if (prw_acquire_read(L, -1) || prw_release(L)) abort(); break;
    case 1: if (prw_acquire_write(L, -1) || prw_release(L)) abort(); break;
    case 2: if (prw_try_acquire_read(L) || prw_release(L)) abort(); break;
    case 3: sink = prw_version(); break;
    case 4: if (prw_is_anonymous(L) != 1) abort(); break;
    }
  }
  return (double)(now() - t) / n;
}
int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 1000000;
  const char *cap = getenv("PRW_CAPACITY"); /* the lock's capacity; default if unset */
  if (prw_create_ex(cap ? (unsigned)atoi(cap) : 0, &L)) return 1;
  const char *names[] = {"read pair", "write pair", "try-read pair", "prw_version (pure C)", "prw_is_anonymous (1 Go call)"};
  int only = argc > 2 ? atoi(argv[2]) : -1; /* run one kind once (for callgrind) */
  if (only >= 0) {
    run(only, n);
    prw_close(L);
    return 0;
  }
  for (int k = 0; k < 5; k++) {
    double r[7];
    run(k, n / 10);
    for (int i = 0; i < 7; i++) r[i] = run(k, n);
    qsort(r, 7, sizeof r[0], cmp);
    printf("%-30s median %7.1f ns  (min %6.1f max %6.1f)\n", names[k], r[3], r[0], r[6]);
  }
  prw_close(L);
  return 0;
}
