/* The ownership check of prw_open, prw_deserialize and prw_unlink: a lock
 * file that another user could have planted, or can write, is refused with
 * EACCES unless the caller passes PRW_MULTIUSER; a token carries that
 * opt-in, pinned to the file's owner. The cases that need a second user
 * run a copy of this program as uid 65534 (testutil.h, t_spawn_asuser) and
 * are skipped when not root. */
#include "testutil.h"

/* The file of bare name n. */
static const char *shm_path(char *buf, size_t size, const char *n) {
  snprintf(buf, size, "/dev/shm/prwlock.%s", n);
  return buf;
}

/* File contents, to check that a refused open left the file alone. */
typedef struct {
  char data[1 << 16];
  ssize_t len;
  mode_t mode;
  uid_t uid;
} snap;

static void take(snap *s, const char *path) {
  struct stat st;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0 && fstat(fd, &st) == 0);
  s->len = read(fd, s->data, sizeof s->data);
  s->mode = st.st_mode;
  s->uid = st.st_uid;
  close(fd);
}

static int same(const snap *a, const char *path) {
  static snap b;
  take(&b, path);
  return a->len == b.len && a->mode == b.mode && a->uid == b.uid &&
         memcmp(a->data, b.data, (size_t)a->len) == 0;
}

/* open_rc opens name with flags and returns the code, closing a handle. */
static int open_rc(const char *name, int flags, unsigned mode) {
  prw_lock *l = (prw_lock *)0x1;
  int rc = prw_open(name, flags, mode, &l);
  if (rc == 0)
    prw_close(l);
  else if (l != NULL)
    rc = -1000; /* *out must be NULL on failure */
  return rc;
}

static int deser_rc(const char *tok) {
  prw_lock *l = (prw_lock *)0x1;
  int rc = prw_deserialize(tok, &l);
  if (rc == 0)
    prw_close(l);
  else if (l != NULL)
    rc = -1000;
  return rc;
}

/* token_of writes l's token to buf. */
static void token_of(prw_lock *l, char *buf, size_t size) {
  size_t n = size;
  REQUIRE(prw_serialize(l, buf, &n) == 0);
}

/* edit replaces the first from in tok by to, into out. */
static const char *edit(char *out, size_t size, const char *tok, const char *from, const char *to) {
  const char *p = strstr(tok, from);
  REQUIRE(p != NULL);
  snprintf(out, size, "%.*s%s%s", (int)(p - tok), tok, to, p + strlen(from));
  return out;
}

/* refused checks that the lock at path (named name) is refused without
 * the opt-in and left alone, accepted with it, and that a token carries
 * the opt-in. */
static void refused(const char *name, const char *path, const char *what) {
  static snap before;
  char tok[4096], bad[4096], pin[64];
  take(&before, path);
  if (open_rc(name, 0, 0) != EACCES || open_rc(name, PRW_CREATE, 0) != EACCES) {
    fprintf(stderr, "%s: default open = %d / create-if-missing = %d, want EACCES\n", what,
            open_rc(name, 0, 0), open_rc(name, PRW_CREATE, 0));
    t_failures++;
  }
  if (!same(&before, path)) {
    fprintf(stderr, "%s: a refused open changed the file\n", what);
    t_failures++;
  }
  prw_lock *l;
  int rc = prw_open(name, PRW_CREATE | PRW_MULTIUSER, 0, &l);
  if (rc != 0) {
    fprintf(stderr, "%s: open with PRW_MULTIUSER = %d (%s)\n", what, rc, prw_strerror(rc));
    t_failures++;
    return;
  }
  struct stat st;
  REQUIRE(stat(path, &st) == 0);
  snprintf(pin, sizeof pin, "multiuser=%u:", (unsigned)st.st_uid);
  token_of(l, tok, sizeof tok);
  CHECK(strstr(tok, pin) != NULL);
  EXPECT_RC(deser_rc(tok), 0);
  EXPECT_RC(deser_rc(edit(bad, sizeof bad, tok, pin, "")), EACCES); /* opt-in dropped */
  snprintf(bad, sizeof bad, "multiuser=%u:", (unsigned)st.st_uid + 1);
  char other[4096];
  EXPECT_RC(deser_rc(edit(other, sizeof other, tok, pin, bad)), EACCES); /* another owner */
  /* Mapped in this process with the opt-in; still refused without. */
  EXPECT_RC(open_rc(name, 0, 0), EACCES);
  EXPECT_RC(prw_close(l), 0);
}

/* Group- and world-writable files of one's own: no second user needed. */
static void test_writable_by_others(void) {
  static const unsigned modes[] = {0620, 0602, 0666};
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
    char name[128], path[256], what[64];
    t_name(name, sizeof name, "writable");
    shm_path(path, sizeof path, name);
    snprintf(what, sizeof what, "own %04o lock", modes[i]);
    /* Creating such a lock needs the opt-in; nothing is created without. */
    EXPECT_RC(open_rc(name, PRW_CREATE, modes[i]), EINVAL);
    EXPECT_RC(open_rc(name, PRW_CREATE | PRW_EXCL, modes[i]), EINVAL);
    CHECK(!t_exists(path));
    EXPECT_RC(open_rc(name, PRW_CREATE | PRW_EXCL | PRW_MULTIUSER, modes[i]), 0);
    refused(name, path, what);
    EXPECT_RC(prw_unlink(name), 0); /* one's own: the mode does not matter */
  }
  /* Made writable after creation. */
  char name[128], path[256];
  t_name(name, sizeof name, "chmod");
  shm_path(path, sizeof path, name);
  EXPECT_RC(open_rc(name, PRW_CREATE | PRW_EXCL, 0600), 0);
  EXPECT_RC(open_rc(name, 0, 0), 0);
  REQUIRE(chmod(path, 0646) == 0);
  refused(name, path, "chmod 0646");
  EXPECT_RC(prw_unlink(name), 0);
  /* The flag is accepted on its own and with the others. */
  t_name(name, sizeof name, "flags");
  EXPECT_RC(open_rc(name, PRW_CREATE | PRW_EXCL | PRW_MULTIUSER, 0), 0);
  EXPECT_RC(open_rc(name, PRW_MULTIUSER, 0), 0);
  EXPECT_RC(open_rc(name, 8, 0), EINVAL);
  EXPECT_RC(prw_unlink(name), 0);
  CHECK(strstr(prw_strerror(EACCES), "PRW_MULTIUSER") != NULL);
}

/* A file owned by another user, made so by root. */
static void test_owner_mismatch(void) {
  if (geteuid() != 0) {
    printf("owner mismatch: skipped (needs root to chown)\n");
    return;
  }
  char name[128], path[256];
  t_name(name, sizeof name, "chown");
  shm_path(path, sizeof path, name);
  EXPECT_RC(open_rc(name, PRW_CREATE | PRW_EXCL, 0600), 0);
  REQUIRE(chown(path, T_OTHER_UID, T_OTHER_UID) == 0);
  refused(name, path, "0600 lock of uid 65534");
  EXPECT_RC(prw_unlink(name), EACCES); /* another user's: kept */
  CHECK(t_exists(path));
  REQUIRE(unlink(path) == 0);
}

/* Helper, as uid 65534: create name with mode and flags; print the code
 * and the token. */
static int helper_squat(char **argv) {
  prw_lock *l;
  char tok[4096] = "-";
  size_t n = sizeof tok;
  int rc = prw_open(argv[2], PRW_CREATE | PRW_EXCL | atoi(argv[4]), (unsigned)strtoul(argv[3], NULL, 8), &l);
  if (rc == 0) {
    rc = prw_serialize(l, tok, &n);
    prw_close(l);
  }
  printf("%d %s\n", rc, tok);
  return 0;
}

/* squat has uid 65534 create name; returns its token in tok. */
static int squat(t_asuser *a, const char *name, const char *mode, int flags, char *tok, size_t size) {
  t_helper h;
  char fl[16], reply[4096];
  snprintf(fl, sizeof fl, "%d", flags);
  t_spawn_asuser(&h, a, "squat", name, mode, fl, NULL);
  int got = t_line(&h, reply, sizeof reply, 20000);
  t_wait(&h, 10000);
  char *sp = strchr(reply, ' ');
  if (got != 0 || atoi(reply) != 0 || sp == NULL) {
    fprintf(stderr, "squat %s as uid %d: %s\n", name, T_OTHER_UID, got == 0 ? reply : "no reply");
    t_failures++;
    return -1;
  }
  snprintf(tok, size, "%s", sp + 1);
  return 0;
}

/* The scenario: uid 65534 creates a 0666 lock in /dev/shm; root's
 * default open refuses it, PRW_MULTIUSER attaches; the same by token. */
static void test_squat(void) {
  t_asuser a;
  if (t_asuser_setup(&a, "squat by another user") != 0) return;
  char name[128], path[256], tok[4096], bad[4096];
  static snap before;
  t_name(name, sizeof name, "squat");
  shm_path(path, sizeof path, name);
  if (squat(&a, name, "0666", PRW_MULTIUSER, tok, sizeof tok) == 0) {
    struct stat st;
    REQUIRE(stat(path, &st) == 0);
    CHECK(st.st_uid == T_OTHER_UID && (st.st_mode & 0777) == 0666);
    take(&before, path);
    EXPECT_RC(open_rc(name, PRW_CREATE, 0), EACCES);
    EXPECT_RC(open_rc(name, PRW_CREATE, 0600), EACCES);
    EXPECT_RC(open_rc(name, 0, 0), EACCES);
    EXPECT_RC(prw_unlink(name), EACCES);
    CHECK(same(&before, path));
    /* Its token carries its opt-in, pinned to uid 65534. */
    CHECK(strstr(tok, ":multiuser=65534:/") != NULL);
    prw_lock *byTok, *l;
    EXPECT_RC(prw_deserialize(tok, &byTok), 0);
    EXPECT_RC(deser_rc(edit(bad, sizeof bad, tok, "multiuser=65534:", "")), EACCES);
    EXPECT_RC(deser_rc(edit(bad, sizeof bad, tok, "multiuser=65534:", "multiuser=0:")), EACCES);
    /* With the opt-in: the same lock as the token's. */
    EXPECT_RC(prw_open(name, PRW_CREATE | PRW_MULTIUSER, 0, &l), 0);
    prw_info_t info;
    EXPECT_RC(prw_acquire_write(l, 0), 0);
    EXPECT_RC(prw_info(byTok, &info), 0);
    CHECK(info.writer_pid == (uint32_t)getpid() && info.writer_active == 1);
    EXPECT_RC(prw_release(l), 0);
    EXPECT_RC(prw_close(l), 0);
    EXPECT_RC(prw_close(byTok), 0);
    unlink(path);
  }
  /* A token of its default lock carries no opt-in: refused. */
  t_name(name, sizeof name, "squat0600");
  shm_path(path, sizeof path, name);
  if (squat(&a, name, "0600", 0, tok, sizeof tok) == 0) {
    CHECK(strstr(tok, "multiuser") == NULL);
    EXPECT_RC(deser_rc(tok), EACCES);
    unlink(path);
  }
  t_asuser_cleanup(&a);
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[1], "squat") == 0) return helper_squat(argv);
  test_writable_by_others();
  test_owner_mismatch();
  test_squat();
  return t_done("test_owner");
}
