// prwlock.hpp: header-only C++ binding of libprwlock (C++17).
//
// prwlock::shared_mutex meets the standard SharedTimedMutex requirements
// (lock, try_lock, try_lock_for, try_lock_until, unlock, and the _shared
// variants), so std::unique_lock, std::shared_lock, std::scoped_lock and
// std::lock_guard work with it, across processes. Holds belong to the
// calling thread, as with std::shared_timed_mutex.
//
// Unlike a standard mutex it is movable (not copyable): it owns one handle
// from prw_open/prw_create/prw_deserialize and closes it when destroyed. A
// moved-from object holds no lock; using it throws (EINVAL).
//
// Errors throw std::system_error: errno values with std::generic_category()
// (so e.code() == std::errc::resource_deadlock_would_occur for EDEADLK),
// PRW_EFORKED with prwlock::category(). Timeouts and busy tries are not
// errors: the try_ functions return false.
//
// Owner death: when an acquisition returns EOWNERDEAD the lock IS held, so
// the wrapper treats it as acquired (lock() returns, try_ functions return
// true) and records it: owner_died() is then true for the calling thread
// until its next acquisition attempt through any shared_mutex. A writer that got it
// should repair the data; its unlock() then marks the lock consistent.
//
// unlock() and unlock_shared() throw std::system_error if the calling
// thread holds nothing (EPERM). Called from an RAII guard's destructor that
// ends in std::terminate, as any broken precondition should.
#ifndef PRWLOCK_HPP
#define PRWLOCK_HPP

#include <prwlock.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace prwlock {

// category is the error category of PRW_EFORKED (and of nothing else).
inline const std::error_category &category() noexcept {
  class cat final : public std::error_category {
   public:
    const char *name() const noexcept override { return "prwlock"; }
    std::string message(int ev) const override { return ::prw_strerror(ev); }
  };
  static const cat c;
  return c;
}

// make_error_code maps a return code of the C API to an error_code.
inline std::error_code make_error_code(int rc) noexcept {
  if (rc == PRW_EFORKED) return {rc, category()};
  return {rc, std::generic_category()};
}

namespace detail {
[[noreturn]] inline void raise(int rc, const char *what) {
  throw std::system_error(make_error_code(rc), what);
}
inline void check(int rc, const char *what) {
  if (rc != 0) raise(rc, what);
}
inline bool &owner_died_flag() noexcept {
  thread_local bool died = false;
  return died;
}
// to_ns converts a wait to nanoseconds for the C API: <= 0 tries once, a
// wait too long to count in int64 nanoseconds waits forever (-1).
template <class Rep, class Period>
int64_t to_ns(const std::chrono::duration<Rep, Period> &d) noexcept {
  using fns = std::chrono::duration<long double, std::nano>;
  const long double ns = std::chrono::duration_cast<fns>(d).count();
  if (!(ns > 0)) return 0;
  if (ns >= 9.0e18L) return -1;
  return static_cast<int64_t>(ns) > 0 ? static_cast<int64_t>(ns) : 1;
}
}  // namespace detail

class shared_mutex {
 public:
  // A new anonymous lock (prw_create); share it with serialize().
  shared_mutex() { detail::check(::prw_create(&h_), "prw_create"); }

  // The named lock name (prw_open_ex): by default created if missing, with
  // permissions mode (0 means 0600) and, if this call creates it, capacity
  // (0 means PRW_DEFAULT_CAPACITY; see Capacity in prwlock.h).
  explicit shared_mutex(const std::string &name, int flags = PRW_CREATE,
                        unsigned int mode = 0, unsigned int capacity = 0) {
    detail::check(::prw_open_ex(name.c_str(), flags, mode, capacity, &h_), "prw_open_ex");
  }

  // anonymous() is the default constructor, by name, with a capacity
  // (prw_create_ex).
  static shared_mutex anonymous(unsigned int capacity = 0) {
    prw_lock *h = nullptr;
    detail::check(::prw_create_ex(capacity, &h), "prw_create_ex");
    return shared_mutex(h);
  }
  // open() is the named constructor.
  static shared_mutex open(const std::string &name, int flags = PRW_CREATE,
                           unsigned int mode = 0, unsigned int capacity = 0) {
    return shared_mutex(name, flags, mode, capacity);
  }
  // deserialize() attaches to the lock a token from serialize() names.
  static shared_mutex deserialize(const std::string &token) {
    prw_lock *h = nullptr;
    detail::check(::prw_deserialize(token.c_str(), &h), "prw_deserialize");
    return shared_mutex(h);
  }
  // unlink() removes a named lock (prw_unlink).
  static void unlink(const std::string &name) {
    detail::check(::prw_unlink(name.c_str()), "prw_unlink");
  }

  shared_mutex(const shared_mutex &) = delete;
  shared_mutex &operator=(const shared_mutex &) = delete;
  shared_mutex(shared_mutex &&o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  shared_mutex &operator=(shared_mutex &&o) noexcept {
    if (this != &o) {
      ::prw_close(h_);
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  // The destructor closes the handle; see prw_close for holds still held.
  ~shared_mutex() { ::prw_close(h_); }

  void lock() { acquired(::prw_acquire_write(h_, -1), "prw_acquire_write"); }
  bool try_lock() { return tried(::prw_try_acquire_write(h_), "prw_try_acquire_write"); }
  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period> &d) {
    return tried(::prw_acquire_write(h_, detail::to_ns(d)), "prw_acquire_write");
  }
  template <class Clock, class Duration>
  bool try_lock_until(const std::chrono::time_point<Clock, Duration> &t) {
    return until(t, PRW_MODE_WRITE);
  }
  void unlock() { detail::check(::prw_release(h_), "prw_release"); }

  void lock_shared() { acquired(::prw_acquire_read(h_, -1), "prw_acquire_read"); }
  bool try_lock_shared() { return tried(::prw_try_acquire_read(h_), "prw_try_acquire_read"); }
  template <class Rep, class Period>
  bool try_lock_shared_for(const std::chrono::duration<Rep, Period> &d) {
    return tried(::prw_acquire_read(h_, detail::to_ns(d)), "prw_acquire_read");
  }
  template <class Clock, class Duration>
  bool try_lock_shared_until(const std::chrono::time_point<Clock, Duration> &t) {
    return until(t, PRW_MODE_READ);
  }
  void unlock_shared() { detail::check(::prw_release(h_), "prw_release"); }

  // downgrade turns the calling thread's write hold into a read hold
  // atomically; release it with unlock_shared().
  void downgrade() { detail::check(::prw_downgrade(h_), "prw_downgrade"); }

  // owner_died: the calling thread's last acquisition returned EOWNERDEAD.
  static bool owner_died() noexcept { return detail::owner_died_flag(); }

  std::string serialize() const { return str(::prw_serialize, "prw_serialize"); }
  // path is the lock's file.
  std::string path() const { return str(::prw_name, "prw_name"); }
  bool is_anonymous() const {
    int rc = ::prw_is_anonymous(h_);
    if (rc != 0 && rc != 1) detail::raise(rc, "prw_is_anonymous");
    return rc == 1;
  }
  prw_info_t info() const {
    prw_info_t i{};
    detail::check(::prw_info(h_, &i), "prw_info");
    return i;
  }
  std::vector<prw_holder_t> holders() const {
    std::vector<prw_holder_t> v(8);
    for (;;) {
      size_t n = 0;
      int rc = ::prw_holders(h_, v.data(), v.size(), &n);
      if (rc == 0) {
        v.resize(n);
        return v;
      }
      if (rc != ERANGE) detail::raise(rc, "prw_holders");
      v.resize(n + 8);
    }
  }

  using native_handle_type = prw_lock *;
  native_handle_type native_handle() const noexcept { return h_; }

 private:
  explicit shared_mutex(prw_lock *h) noexcept : h_(h) {}

  static bool granted(int rc) noexcept {
    detail::owner_died_flag() = rc == EOWNERDEAD;
    return rc == 0 || rc == EOWNERDEAD;
  }
  static void acquired(int rc, const char *what) {
    if (!granted(rc)) detail::raise(rc, what);
  }
  static bool tried(int rc, const char *what) {
    if (granted(rc)) return true;
    if (rc == EBUSY || rc == ETIMEDOUT) return false;
    detail::raise(rc, what);
  }
  // until waits for an absolute time of any clock, re-checking the clock
  // after each relative wait (the clock may not advance like CLOCK_MONOTONIC).
  template <class Clock, class Duration>
  bool until(const std::chrono::time_point<Clock, Duration> &t, int mode) {
    const char *what = mode == PRW_MODE_WRITE ? "prw_acquire_write" : "prw_acquire_read";
    for (;;) {
      auto left = t - Clock::now();
      int64_t ns = detail::to_ns(left);
      int rc = mode == PRW_MODE_WRITE ? ::prw_acquire_write(h_, ns) : ::prw_acquire_read(h_, ns);
      if (rc != ETIMEDOUT || ns == 0 || Clock::now() >= t) return tried(rc, what);
    }
  }
  std::string str(int (*fn)(prw_lock *, char *, size_t *), const char *what) const {
    size_t n = 0;
    int rc = fn(h_, nullptr, &n);
    if (rc != ERANGE) detail::raise(rc == 0 ? EIO : rc, what);
    std::string s(n, '\0');
    detail::check(fn(h_, &s[0], &n), what);
    s.resize(n);
    return s;
  }

  prw_lock *h_ = nullptr;
};

}  // namespace prwlock

#endif  // PRWLOCK_HPP
