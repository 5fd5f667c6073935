/* prw_demo: a C program taking part in `make demo` beside Go and Python
 * processes. It opens (creating if needed) the named lock NAME and, ROUNDS
 * times, takes it for writing or reading, says so, holds it HOLD_MS, and
 * releases it.   Usage: prw_demo NAME [ROUNDS [HOLD_MS]] */
#include "testutil.h"

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s NAME [ROUNDS [HOLD_MS]]\n", argv[0]);
    return 2;
  }
  int rounds = argc > 2 ? atoi(argv[2]) : 5, hold = argc > 3 ? atoi(argv[3]) : 200;
  prw_lock *l;
  int rc = prw_open(argv[1], PRW_CREATE, 0, &l);
  if (rc != 0) {
    fprintf(stderr, "prw_open %s: %s\n", argv[1], prw_strerror(rc));
    return 1;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  for (int i = 0; i < rounds; i++) {
    int write = i % 2 == 0;
    int64_t t0 = t_now_ns();
    rc = write ? prw_acquire_write(l, -1) : prw_acquire_read(l, -1);
    if (rc != 0 && rc != EOWNERDEAD) {
      fprintf(stderr, "acquire: %s\n", prw_strerror(rc));
      return 1;
    }
    printf("[C   pid %d] %s lock after %.1f ms%s\n", (int)getpid(), write ? "write" : "read ",
           (t_now_ns() - t0) / 1e6, rc == EOWNERDEAD ? " (a previous writer died)" : "");
    t_sleep_ms(hold);
    prw_release(l);
    t_sleep_ms(hold / 4);
  }
  prw_close(l);
  return 0;
}
