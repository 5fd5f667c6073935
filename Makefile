# prwlock: one entry point for humans. Language-specific rules live in mk/*.mk.
#   make / make build   build/libprwlock.so and the Python dev venv (.venv/)
#   make test           every test suite (Go, C/C++, Python)
#   make demo           several processes and languages sharing one lock
#   make bench          the benchmark suite
SHELL := /bin/bash
.DEFAULT_GOAL := build
ROOT  := $(abspath .)
BUILD := $(ROOT)/build
GO    ?= go
export GOFLAGS ?= -mod=mod

.PHONY: build test demo bench deps clean test-go test-go-platforms

include mk/deps.mk
-include mk/c.mk
-include mk/python.mk
-include mk/demo.mk
-include mk/bench.mk
-include mk/chaos.mk
-include mk/etcd.mk

build: deps $(BUILD_TARGETS)

test: deps test-go $(TEST_TARGETS) test-leftovers

test-go: deps
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 600s ./...
	$(MAKE) --no-print-directory test-go-platforms

test-go-platforms:
	@for p in darwin/amd64 darwin/arm64 freebsd/amd64 windows/amd64; do \
	  echo "cross-build lock/ for $$p"; \
	  GOOS=$${p%/*} GOARCH=$${p#*/} CGO_ENABLED=0 $(GO) build ./lock/ || exit 1; \
	done

# Nothing may be left behind by any suite.
test-leftovers:
	@left=$$(ls -A /dev/shm 2>/dev/null | grep -i '^prwlock' || true); \
	if [ -n "$$left" ]; then echo "FAIL: left in /dev/shm: $$left"; exit 1; fi; \
	echo "no prwlock files left in /dev/shm"

clean:
	rm -rf $(BUILD)
