/* rss_load LIB: the memory and threads that loading libprwlock.so adds to a
 * process that did not have it, before and after the first real call.
 * Prints one JSON object. Not linked with the library: it dlopens it. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void status(long *rss, long *threads, long *vm) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  *rss = *threads = *vm = -1;
  if (!f) return;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "VmRSS:", 6) == 0) *rss = strtol(line + 6, NULL, 10);
    if (strncmp(line, "VmSize:", 7) == 0) *vm = strtol(line + 7, NULL, 10);
    if (strncmp(line, "Threads:", 8) == 0) *threads = strtol(line + 8, NULL, 10);
  }
  fclose(f);
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: rss_load path/to/libprwlock.so\n");
    return 2;
  }
  long r0, t0, v0, r1, t1, v1, r2, t2, v2;
  status(&r0, &t0, &v0);
  double a = now_ms();
  void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  double b = now_ms();
  if (!h) {
    fprintf(stderr, "rss_load: %s\n", dlerror());
    return 2;
  }
  status(&r1, &t1, &v1);
  int (*create)(void **) = (int (*)(void **))dlsym(h, "prw_create");
  int (*close_)(void *) = (int (*)(void *))dlsym(h, "prw_close");
  void *lk = NULL;
  double c = now_ms();
  int rc = create(&lk);
  double d = now_ms();
  status(&r2, &t2, &v2);
  if (rc == 0) close_(lk);
  printf("{\"bench\":\"rss-load\",\"lang\":\"c\",\"rss_kb_base\":%ld,\"rss_kb_after_load\":%ld,"
         "\"rss_kb_after_first_lock\":%ld,\"threads_base\":%ld,\"threads_after_load\":%ld,"
         "\"threads_after_first_lock\":%ld,\"vm_kb_added\":%ld,\"load_ms\":%.3f,\"first_create_ms\":%.3f,\"rc\":%d}\n",
         r0, r1, r2, t0, t1, t2, v2 - v0, b - a, d - c, rc);
  return 0;
}
