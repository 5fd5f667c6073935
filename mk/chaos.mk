# The chaos test (tests/chaos/): mixed C, Go and Python workers on shared
# named locks, SIGKILLed and restarted, SIGSTOPped and continued, and made to
# exec while they hold, at random, by a Go supervisor.
#   make test-chaos     the short run (part of `make test`): at least 20,000
#                       critical sections in CHAOS_SECONDS (20) seconds
#   make soak           the same for SOAK_SECONDS (600), sampling RSS, file
#                       descriptors and /dev/shm every SOAK_SAMPLE seconds
# Extra supervisor flags go in CHAOS_FLAGS (see `build/chaos/chaos run -h`),
# e.g. CHAOS_FLAGS='-seed 42 -procs 12'.
CHAOS_DIR     := $(BUILD)/chaos
CHAOS_BIN     := $(CHAOS_DIR)/chaos
CHAOS_CWORKER := $(CHAOS_DIR)/chaos_cworker
CHAOS_CSLIB   := $(CHAOS_DIR)/libchaoscs.so
CHAOS_SRC     := $(ROOT)/tests/chaos
CHAOS_SECONDS ?= 20
SOAK_SECONDS  ?= 600
SOAK_SAMPLE   ?= 30
CHAOS_FLAGS   ?=
CHAOS_PY      ?= $(ROOT)/.venv/bin/python
CHAOS_CFLAGS  := -O2 -g -Wall -Wextra -Werror -pthread -I$(CHAOS_SRC)/c -I$(ROOT)/include

TEST_TARGETS += test-chaos
.PHONY: test-chaos test-chaos-selftest soak chaos-build

$(CHAOS_BIN): $(wildcard $(CHAOS_SRC)/*.go) $(filter-out %_test.go,$(wildcard $(ROOT)/lock/*.go))
	@mkdir -p $(CHAOS_DIR)
	cd $(ROOT) && $(GO) build -buildvcs=false -o $@ ./tests/chaos

$(CHAOS_CSLIB): $(CHAOS_SRC)/c/cs.c $(CHAOS_SRC)/c/cs.h $(CHAOS_SRC)/c/chaosmem.h
	@mkdir -p $(CHAOS_DIR)
	$(CC) $(CHAOS_CFLAGS) -shared -fPIC -o $@ $(CHAOS_SRC)/c/cs.c

$(CHAOS_CWORKER): $(CHAOS_SRC)/c/worker.c $(CHAOS_SRC)/c/cs.c $(CHAOS_SRC)/c/cs.h $(CHAOS_SRC)/c/chaosmem.h $(C_LIB)
	@mkdir -p $(CHAOS_DIR)
	$(CC) $(CHAOS_CFLAGS) -o $@ $(CHAOS_SRC)/c/worker.c $(CHAOS_SRC)/c/cs.c \
	  -L$(BUILD) -lprwlock -Wl,-rpath,$(BUILD)

chaos-build: $(CHAOS_BIN) $(CHAOS_CSLIB) $(CHAOS_CWORKER) $(PY_STAMP)

CHAOS_RUN = $(CHAOS_BIN) run -cworker $(CHAOS_CWORKER) -cslib $(CHAOS_CSLIB) \
	-python $(CHAOS_PY) -pyworker $(CHAOS_SRC)/py/worker.py

test-chaos: chaos-build test-chaos-selftest
	env -u PRWLOCK_LIBRARY $(CHAOS_RUN) -duration $(CHAOS_SECONDS)s $(CHAOS_FLAGS)

soak: chaos-build
	env -u PRWLOCK_LIBRARY $(CHAOS_RUN) -duration $(SOAK_SECONDS)s -sample $(SOAK_SAMPLE)s \
	  -min-ops 0 $(CHAOS_FLAGS)

# The checks must be able to fail: Go workers that cheat on purpose must be
# caught (writing without the lock; claiming owner-dead with no death), and
# so must a supervisor that calls stopped holders mere waiters (the locks
# they hold then stall while "only a waiter" is stopped).
test-chaos-selftest: chaos-build
	set -o pipefail; env -u PRWLOCK_LIBRARY $(CHAOS_RUN) -duration 3s -procs 3 -survivors 3 -min-ops 0 \
	  -cheat nolock -expect-fail "invariant violations" 2>&1 | grep -v VIOLATION | tail -3
	set -o pipefail; env -u PRWLOCK_LIBRARY $(CHAOS_RUN) -duration 3s -procs 3 -survivors 3 -min-ops 0 \
	  -cheat fakedead -expect-fail "no earlier kill of a writer" 2>&1 | tail -2
	@# A long stop must land on a holder within the run for this cheat to
	@# show; a run where none did proves nothing either way, so up to three
	@# runs (each with a new seed, each longer: a loaded machine settles
	@# fewer stops a second) may be needed: one must catch it.
	set -o pipefail; for try in 4 8 16; do \
	  if env -u PRWLOCK_LIBRARY $(CHAOS_RUN) -duration $${try}s -procs 3 -survivors 3 -min-ops 0 \
	    -stop-every-max 200ms -cheat hideholders -expect-fail "granted nothing" 2>&1 | tail -2; then exit 0; fi; \
	  echo "hideholders self-test: the $${try}s run did not catch it (no long stop landed on a holder?)"; \
	done; exit 1
