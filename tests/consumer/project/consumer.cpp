// A tiny outside C++ program: uses the installed prwlock.hpp.
#include <prwlock.hpp>

#include <cstdio>
#include <mutex>
#include <shared_mutex>

int main() {
  prwlock::shared_mutex m;
  { std::unique_lock<prwlock::shared_mutex> w(m); }
  { std::shared_lock<prwlock::shared_mutex> r(m); }
  std::printf("consumer_cpp: token %zu bytes\n", m.serialize().size());
  return 0;
}
