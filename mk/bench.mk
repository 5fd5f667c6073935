# The benchmark suite (tests/bench/, results in docs/bench/).
#   make bench          full suite (<= 10 min on 2 cores): JSON, Markdown and
#                       PNGs in docs/bench/, key table in docs/bench/README.md
#   make bench-quick    smoke run (< 1 min) into build/bench-quick/
#   make bench-render   re-render docs/bench/ from its JSON, no measuring
#   make bench BENCH_ONLY=pairs,recover   re-measure some sections only
#   (sections: pairs contended starve handoff recover scale capacity fork stack etcd
#    pythreads pyprocs pyasync)
# Baselines come from PyPI into a venv of their own, pinned in
# tests/bench/requirements.txt.
BENCH_VENV := $(BUILD)/bench-venv
BENCH_PY   := $(BENCH_VENV)/bin/python
BENCH_BIN  := $(BUILD)/bench
BENCH_OUT  ?= $(ROOT)/docs/bench
BENCH_ONLY ?=
BENCH_REQS := $(ROOT)/tests/bench/requirements.txt
BENCH_CFLAGS := -O2 -g -Wall -Wextra -std=gnu11

.PHONY: bench bench-quick bench-render bench-tools

$(BENCH_VENV)/.pins: $(BENCH_REQS)
	rm -rf $(BENCH_VENV)
	$(PY_SYS) -m venv $(BENCH_VENV)
	$(BENCH_PY) -m pip install -q --disable-pip-version-check -r $(BENCH_REQS)
	cp $(BENCH_REQS) $@

$(BENCH_BIN)/bench: $(ROOT)/tests/bench/c/bench.c $(ROOT)/include/prwlock.h $(C_LIB)
	@mkdir -p $(BENCH_BIN)
	$(CC) $(BENCH_CFLAGS) -I$(ROOT)/include -o $@ $< -L$(BUILD) -lprwlock -Wl,-rpath,$(BUILD) -lpthread

$(BENCH_BIN)/bench_fork: $(ROOT)/tests/bench/c/forkstack.c $(ROOT)/include/prwlock.h $(C_LIB)
	@mkdir -p $(BENCH_BIN)
	$(CC) $(BENCH_CFLAGS) -I$(ROOT)/include -o $@ $< -L$(BUILD) -lprwlock -Wl,-rpath,$(BUILD) -lpthread

$(BENCH_BIN)/rss_load: $(ROOT)/tests/bench/c/rss_load.c
	@mkdir -p $(BENCH_BIN)
	$(CC) $(BENCH_CFLAGS) -o $@ $< -ldl

$(BENCH_BIN)/bench_go: $(ROOT)/tests/bench/go/main.go $(filter-out %_test.go,$(wildcard $(ROOT)/lock/*.go))
	@mkdir -p $(BENCH_BIN)
	cd $(ROOT) && $(GO) build -o $@ ./tests/bench/go

$(BENCH_BIN)/bench_etcd: $(ROOT)/tests/bench/etcd/main.go $(C_LIB_SRCS) $(wildcard $(ROOT)/internal/etcdtest/*.go)
	@mkdir -p $(BENCH_BIN)
	cd $(ROOT) && $(GO) build -tags prwlock_etcd -o $@ ./tests/bench/etcd

# The engine's test binary, for BenchmarkWriterScan (package-internal scans).
$(BENCH_BIN)/lock.test: $(wildcard $(ROOT)/lock/*.go)
	@mkdir -p $(BENCH_BIN)
	cd $(ROOT) && $(GO) test -c -o $@ ./lock

bench-tools: build $(BENCH_VENV)/.pins $(BENCH_BIN)/bench $(BENCH_BIN)/bench_fork $(BENCH_BIN)/rss_load \
	$(BENCH_BIN)/bench_go $(BENCH_BIN)/lock.test $(BENCH_BIN)/bench_etcd

bench: bench-tools
	$(BENCH_PY) $(ROOT)/tests/bench/run.py --out $(BENCH_OUT) $(if $(BENCH_ONLY),--only $(BENCH_ONLY))
	$(BENCH_PY) $(ROOT)/tests/bench/render.py $(BENCH_OUT)

bench-quick: bench-tools
	$(BENCH_PY) $(ROOT)/tests/bench/run.py --quick --out $(BUILD)/bench-quick
	$(BENCH_PY) $(ROOT)/tests/bench/render.py $(BUILD)/bench-quick

bench-render: $(BENCH_VENV)/.pins
	$(BENCH_PY) $(ROOT)/tests/bench/render.py $(BENCH_OUT)
