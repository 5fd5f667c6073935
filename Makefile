# prwlock: one entry point for humans. Language-specific rules live in mk/*.mk.
#   make / make build   build/libprwlock.so and the Python dev venv (.venv/)
#   make test           every test suite (Go, C/C++, LuaJIT and Perl prefork,
#                       Python, chaos, etcd); a failing suite does not stop the
#                       others; summary at the end
#   make demo           several processes and languages sharing one lock
#   make bench          the benchmark suite
#   make test-hosts     the bindings (Rust, ...) and host programs (Go via cgo)
#   make wheel-check    build the wheel and sdist, install and import them
#                       under every CPython 3.9-3.13 found (not in make test)
SHELL := /bin/bash
.DEFAULT_GOAL := build
ROOT  := $(abspath .)
BUILD := $(ROOT)/build
GO    ?= go
export GOFLAGS ?= -mod=mod

.PHONY: build test demo bench deps clean test-go test-go-vet test-go-race test-go-platforms

include mk/deps.mk
-include mk/c.mk
-include mk/prefork.mk
-include mk/python.mk
-include mk/demo.mk
-include mk/bench.mk
-include mk/chaos.mk
-include mk/wheel.mk
-include mk/pythons.mk
-include mk/etcd.mk
-include mk/hosts.mk
-include mk/hosts-node-java.mk

build: deps $(BUILD_TARGETS)

# Every suite runs even if an earlier one failed (mk/run-tests.sh), then a
# check that the run left no prwlock files in /dev/shm or the temp dirs.
TEST_SUITES := test-go-vet test-go-race test-go-platforms $(TEST_TARGETS)
test: build
	@MAKE="$(MAKE)" bash $(ROOT)/mk/run-tests.sh $(TEST_SUITES)

test-go: test-go-vet test-go-race test-go-platforms

test-go-vet: deps
	$(GO) vet ./...

test-go-race: deps
	$(GO) test -race -count=1 -timeout 600s ./...

test-go-platforms: deps
	@for p in darwin/amd64 darwin/arm64 freebsd/amd64 windows/amd64; do \
	  echo "cross-build lock/ for $$p"; \
	  GOOS=$${p%/*} GOARCH=$${p#*/} CGO_ENABLED=0 $(GO) build ./lock/ || exit 1; \
	done

clean:
	rm -rf $(BUILD)
