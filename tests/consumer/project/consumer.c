/* A tiny outside program: uses the installed header and library. */
#include <prwlock.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  prw_lock *l;
  char tok[4096];
  size_t n = sizeof tok;
  int rc;
  if ((rc = prw_create(&l)) != 0 || (rc = prw_acquire_write(l, 1000000000)) != 0 ||
      (rc = prw_serialize(l, tok, &n)) != 0 || (rc = prw_release(l)) != 0 ||
      (rc = prw_close(l)) != 0) {
    fprintf(stderr, "consumer: %s\n", prw_strerror(rc));
    return 1;
  }
  if (strcmp(prw_version(), "1.0.0") != 0 || PRW_VERSION_MAJOR != 1) return 1;
  printf("consumer: libprwlock %s works\n", prw_version());
  return 0;
}
