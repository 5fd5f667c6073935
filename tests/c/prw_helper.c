/* prw_helper: a process the tests drive through its stdin, one command per
 * line, one reply line per command (a return code, sometimes followed by a
 * value). It works on one current lock. Started by posix_spawn + exec. */
#include "testutil.h"

int main(void) {
  char line[8192];
  prw_lock *l = NULL;
  setvbuf(stdout, NULL, _IOLBF, 0);
  alarm(300); /* never outlive a broken test run by much */
  while (fgets(line, sizeof line, stdin)) {
    char arg[8192] = "";
    long long n = 0;
    line[strcspn(line, "\n")] = 0;
    int flags = 0;
    unsigned mode = 0;
    if (sscanf(line, "open %8000s %d %o", arg, &flags, &mode) == 3) {
      printf("%d\n", prw_open(arg, flags, mode, &l));
    } else if (strcmp(line, "create") == 0) {
      printf("%d\n", prw_create(&l));
    } else if (sscanf(line, "deser %8000s", arg) == 1) {
      printf("%d\n", prw_deserialize(arg, &l));
    } else if (strcmp(line, "token") == 0 || strcmp(line, "path") == 0) {
      size_t len = sizeof arg;
      int rc = line[0] == 't' ? prw_serialize(l, arg, &len) : prw_name(l, arg, &len);
      printf("%d %s\n", rc, rc == 0 ? arg : "-");
    } else if (sscanf(line, "r %lld", &n) == 1) {
      printf("%d\n", prw_acquire_read(l, n));
    } else if (sscanf(line, "w %lld", &n) == 1) {
      printf("%d\n", prw_acquire_write(l, n));
    } else if (strcmp(line, "rel") == 0) {
      printf("%d\n", prw_release(l));
    } else if (strcmp(line, "down") == 0) {
      printf("%d\n", prw_downgrade(l));
    } else if (strcmp(line, "close") == 0) {
      printf("%d\n", prw_close(l));
      l = NULL;
    } else if (strcmp(line, "info") == 0) {
      prw_info_t i;
      int rc = prw_info(l, &i);
      printf("%d %u %u %u %u %u\n", rc, i.readers, i.writer_pid, i.writer_active,
             i.owner_dead, i.attached);
    } else if (sscanf(line, "unlink %8000s", arg) == 1) {
      printf("%d\n", prw_unlink(arg));
    } else if (sscanf(line, "setuid %lld", &n) == 1) {
      printf("%d\n", setuid((uid_t)n) == 0 ? 0 : errno);
    } else if (strcmp(line, "pid") == 0) {
      printf("%d %d\n", 0, (int)getpid());
    } else if (sscanf(line, "exit %lld", &n) == 1) {
      exit((int)n); /* runs atexit handlers, as a normal exit does */
    } else if (sscanf(line, "_exit %lld", &n) == 1) {
      _exit((int)n);
    } else {
      printf("%d unknown command\n", EINVAL);
    }
  }
  return 0;
}
