/* test_stack: calls from a stack that is not the thread's own, as
 * makecontext/ucontext coroutines, Ruby Fibers and some FFI trampolines
 * make. The data plane runs in C, so an uncontended pair on a malloc'd
 * stack costs what it costs on the thread's stack; through Go it cost
 * hundreds of times more (the runtime recomputed the stack bounds on every
 * such call). The bound asserted here is generous: 4x, plus 2 us. */
#include "testutil.h"

#include <ucontext.h>

#define PAIRS 20000

static prw_lock *L;
static ucontext_t main_ctx, co_ctx;
static int64_t co_ns;
static int co_errors;

static int64_t pairs(int n, int *errors) {
  int64_t t0 = t_now_ns();
  for (int k = 0; k < n; k++) {
    int write = k & 1;
    int rc = write ? prw_acquire_write(L, -1) : prw_acquire_read(L, -1);
    if (rc == 0) rc = prw_release(L);
    if (rc != 0) (*errors)++;
  }
  return t_now_ns() - t0;
}

static void coroutine(void) {
  /* Prove we are on the malloc'd stack. */
  char here;
  uintptr_t lo = (uintptr_t)co_ctx.uc_stack.ss_sp, hi = lo + co_ctx.uc_stack.ss_size;
  if ((uintptr_t)&here < lo || (uintptr_t)&here >= hi) co_errors += 1000;
  co_ns = pairs(PAIRS, &co_errors);
  /* Every other kind of call works from here too. */
  prw_info_t i;
  if (prw_info(L, &i) != 0) co_errors++;
  char tok[4096];
  size_t n = sizeof tok;
  if (prw_serialize(L, tok, &n) != 0) co_errors++;
}

int main(void) {
  alarm(120);
  REQUIRE(prw_create(&L) == 0);
  int errors = 0;
  pairs(PAIRS, &errors); /* warm up */
  int64_t best_main = INT64_MAX, best_co = INT64_MAX;
  for (int rep = 0; rep < 5; rep++) {
    int64_t m = pairs(PAIRS, &errors);
    if (m < best_main) best_main = m;
    size_t size = 256 * 1024;
    void *stack = malloc(size);
    REQUIRE(stack != NULL);
    REQUIRE(getcontext(&co_ctx) == 0);
    co_ctx.uc_stack.ss_sp = stack;
    co_ctx.uc_stack.ss_size = size;
    co_ctx.uc_link = &main_ctx;
    makecontext(&co_ctx, coroutine, 0);
    REQUIRE(swapcontext(&main_ctx, &co_ctx) == 0);
    free(stack);
    if (co_ns < best_co) best_co = co_ns;
  }
  EXPECT_RC(errors, 0);
  EXPECT_RC(co_errors, 0);
  double pm = (double)best_main / PAIRS, pc = (double)best_co / PAIRS;
  printf("stack: pair %.0f ns on the thread's stack, %.0f ns on a malloc'd stack (%.2fx)\n", pm, pc,
         pc / pm);
  CHECK(pc <= 4 * pm + 2000);
  EXPECT_RC(prw_close(L), 0);
  return t_done("test_stack");
}
