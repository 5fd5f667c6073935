// C++ binding test: the standard lock adaptors, timed waits, moves, errors,
// owner death (with a helper process), tokens.
// Usage: test_prwlock PATH_TO_prw_helper
#include "prwlock.hpp"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <type_traits>

extern char **environ;
using namespace std::chrono_literals;

static int failures;
#define CHECK(c)                                                           \
  do {                                                                     \
    if (!(c)) {                                                            \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); \
      failures++;                                                          \
    }                                                                      \
  } while (0)

static_assert(!std::is_copy_constructible_v<prwlock::shared_mutex>);
static_assert(!std::is_copy_assignable_v<prwlock::shared_mutex>);
static_assert(std::is_nothrow_move_constructible_v<prwlock::shared_mutex>);
static_assert(std::is_nothrow_move_assignable_v<prwlock::shared_mutex>);

// Runs f on another thread and returns its result (holds are per thread).
template <class F>
static auto other_thread(F f) {
  decltype(f()) r{};
  std::thread([&] { r = f(); }).join();
  return r;
}

static void test_adaptors() {
  prwlock::shared_mutex m;  // anonymous
  CHECK(m.is_anonymous());
  {
    std::unique_lock<prwlock::shared_mutex> w(m);
    CHECK(w.owns_lock());
    CHECK(other_thread([&] { return m.try_lock_shared(); }) == false);
    CHECK(other_thread([&] { return m.try_lock(); }) == false);
    auto t0 = std::chrono::steady_clock::now();
    CHECK(other_thread([&] { return m.try_lock_for(30ms); }) == false);
    CHECK(std::chrono::steady_clock::now() - t0 >= 29ms);
    CHECK(other_thread([&] {
            return m.try_lock_shared_until(std::chrono::steady_clock::now() + 20ms);
          }) == false);
    CHECK(other_thread([&] {
            return m.try_lock_shared_until(std::chrono::system_clock::now() + 20ms);
          }) == false);
    CHECK(other_thread([&] { return m.try_lock_shared_for(-5s); }) == false);
  }
  {
    std::shared_lock<prwlock::shared_mutex> r1(m);
    CHECK(other_thread([&] {
      std::shared_lock<prwlock::shared_mutex> r2(m, 1s);  // try_lock_shared_for
      return r2.owns_lock();
    }));
    CHECK(other_thread([&] {
      std::unique_lock<prwlock::shared_mutex> w(m, std::try_to_lock);
      return w.owns_lock();
    }) == false);
    std::unique_lock<prwlock::shared_mutex> w(m, std::defer_lock);
    try {
      w.lock();  // this thread holds read: EDEADLK
      CHECK(false);
    } catch (const std::system_error &e) {
      CHECK(e.code() == std::errc::resource_deadlock_would_occur);
    }
  }
  {
    prwlock::shared_mutex n;
    std::mutex plain;
    std::scoped_lock all(m, n, plain);
    CHECK(other_thread([&] { return m.try_lock_shared() || n.try_lock_shared(); }) == false);
  }
  CHECK(other_thread([&] {
    std::unique_lock<prwlock::shared_mutex> w(m, std::chrono::steady_clock::now() + 1s);
    return w.owns_lock();
  }));
  // A waiter blocks until the release, then gets in.
  std::atomic<bool> got{false};
  m.lock();
  std::thread t([&] {
    std::shared_lock<prwlock::shared_mutex> r(m);
    got = true;
  });
  std::this_thread::sleep_for(30ms);
  CHECK(!got);
  m.unlock();
  t.join();
  CHECK(got);
  // downgrade
  m.lock();
  m.downgrade();
  CHECK(other_thread([&] {
    bool ok = m.try_lock_shared();
    if (ok) m.unlock_shared();
    return ok;
  }));
  CHECK(other_thread([&] { return m.try_lock(); }) == false);
  m.unlock_shared();
  try {
    m.unlock();
    CHECK(false);
  } catch (const std::system_error &e) {
    CHECK(e.code() == std::errc::operation_not_permitted);
  }
}

static void test_named_moves_tokens() {
  std::string name = "cpptest." + std::to_string(getpid());
  {
    auto a = prwlock::shared_mutex::open(name, PRW_CREATE | PRW_EXCL, 0640, 100);
    CHECK(!a.is_anonymous());
    CHECK(a.info().capacity == 128);
    CHECK(prwlock::shared_mutex::anonymous(PRW_MAX_CAPACITY).info().capacity == PRW_MAX_CAPACITY);
    CHECK(prwlock::shared_mutex::anonymous().info().capacity == PRW_DEFAULT_CAPACITY);
    try {
      prwlock::shared_mutex::anonymous(PRW_MAX_CAPACITY + 1);
      CHECK(false);
    } catch (const std::system_error &e) {
      CHECK(e.code() == std::errc::invalid_argument);
    }
    CHECK(a.path() == "/dev/shm/prwlock." + name);
    try {
      prwlock::shared_mutex dup(name, PRW_CREATE | PRW_EXCL);
      CHECK(false);
    } catch (const std::system_error &e) {
      CHECK(e.code() == std::errc::file_exists);
    }
    auto b = prwlock::shared_mutex::deserialize(a.serialize());
    CHECK(b.path() == a.path());
    std::unique_lock<prwlock::shared_mutex> w(a);
    CHECK(other_thread([&] { return b.try_lock_shared(); }) == false);
    CHECK(a.info().writer_active == 1);
    auto hs = a.holders();
    CHECK(hs.size() == 1 && hs[0].mode == PRW_MODE_WRITE);
    w.unlock();

    prwlock::shared_mutex c(std::move(a));
    CHECK(a.native_handle() == nullptr && c.native_handle() != nullptr);
    try {
      a.lock();  // moved-from
      CHECK(false);
    } catch (const std::system_error &e) {
      CHECK(e.code() == std::errc::invalid_argument);
    }
    a = std::move(c);
    CHECK(a.try_lock());
    a.unlock();
  }
  prwlock::shared_mutex::unlink(name);
  try {
    prwlock::shared_mutex::unlink(name);
    CHECK(false);
  } catch (const std::system_error &e) {
    CHECK(e.code() == std::errc::no_such_file_or_directory);
  }
  try {
    prwlock::shared_mutex::deserialize("garbage");
    CHECK(false);
  } catch (const std::system_error &e) {
    CHECK(e.code() == std::errc::invalid_argument);
  }
  CHECK(prwlock::make_error_code(PRW_EFORKED).category().name() == std::string("prwlock"));
  CHECK(prwlock::make_error_code(PRW_EFORKED).message().find("fork") != std::string::npos);
  CHECK(prwlock::make_error_code(EBUSY) == std::errc::device_or_resource_busy);
}

// Owner death: a helper process takes the write lock and is killed; the
// adaptors still work, and owner_died() tells.
static void test_owner_died(const char *helper) {
  std::string name = "cppdeath." + std::to_string(getpid());
  prwlock::shared_mutex m(name, PRW_CREATE | PRW_EXCL);
  int in[2], out[2];
  CHECK(pipe(in) == 0 && pipe(out) == 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_addclose(&fa, in[1]);
  posix_spawn_file_actions_addclose(&fa, out[0]);
  pid_t pid;
  char *argv[] = {const_cast<char *>(helper), nullptr};
  CHECK(posix_spawn(&pid, helper, &fa, nullptr, argv, environ) == 0);
  close(in[0]);
  close(out[1]);
  std::string cmd = "open " + name + " 0 0\nw -1\n";
  CHECK(write(in[1], cmd.data(), cmd.size()) == (ssize_t)cmd.size());
  char buf[64] = {};
  size_t got = 0;
  while (got < 4) {  // two replies: "0\n0\n"
    ssize_t n = read(out[0], buf + got, sizeof buf - 1 - got);
    if (n <= 0) break;
    got += (size_t)n;
  }
  CHECK(std::strcmp(buf, "0\n0\n") == 0);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  close(in[1]);
  close(out[0]);
  {
    std::shared_lock<prwlock::shared_mutex> r(m, 10s);
    CHECK(r.owns_lock() && prwlock::shared_mutex::owner_died());
  }
  {
    std::unique_lock<prwlock::shared_mutex> w(m);
    CHECK(prwlock::shared_mutex::owner_died());  // told writer: repair, then unlock
  }
  {
    std::shared_lock<prwlock::shared_mutex> r(m);
    CHECK(!prwlock::shared_mutex::owner_died());
  }
  CHECK(m.info().owner_deaths == 1 && m.info().owner_dead == 0);
  prwlock::shared_mutex::unlink(name);
}

int main(int argc, char **argv) {
  alarm(200);
  if (argc != 2) return 2;
  try {
    test_adaptors();
    test_named_moves_tokens();
    test_owner_died(argv[1]);
  } catch (const std::exception &e) {
    std::fprintf(stderr, "unexpected exception: %s\n", e.what());
    failures++;
  }
  if (failures) {
    std::fprintf(stderr, "test_prwlock: %d check(s) FAILED\n", failures);
    return 1;
  }
  std::puts("test_prwlock: all checks passed");
  return 0;
}
