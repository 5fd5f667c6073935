# Other runtimes hosting libprwlock.so: the bindings' tests and host programs.
#   make test-hosts       every host below (a failing host does not stop the others)
#   make test-hosts-fast  the hosts in HOSTS_FAST; part of `make test`
# Adding a host: one `host-NAME:` rule (its prerequisites and its test command,
# run from the repository), and NAME in HOSTS (and in HOSTS_FAST if it is fast
# and needs nothing beyond what `make deps` installs).
HOSTS      := rust go
HOSTS_FAST := rust go
HOST_ENV   := PRWLOCK_LIB_DIR=$(BUILD)

TEST_TARGETS += test-hosts-fast
.PHONY: test-hosts test-hosts-fast $(addprefix host-,$(HOSTS))

# Rust: bindings/rust (prwlock-sys, prwlock); build output under build/rust.
host-rust: $(C_LIB)
	cd $(ROOT)/bindings/rust && $(HOST_ENV) CARGO_TARGET_DIR=$(BUILD)/rust cargo test --offline -q

# Go through cgo: unpinned goroutines with explicit owners under GC
# pressure; the same program on the per-thread API must fail (exit 1, not a
# crash).
host-go: $(C_LIB)
	cd $(ROOT)/tests/hosts/go && export CGO_LDFLAGS="-L$(BUILD) -Wl,-rpath,$(BUILD)" && \
	  $(GO) test -count=1 . && $(GO) build -o $(BUILD)/hosts-go . && $(BUILD)/hosts-go && \
	  { $(BUILD)/hosts-go -api thread -rounds 50; test $$? = 1; }

# run_hosts runs host-NAME for every NAME in $(1), all of them, and fails
# if any failed.
run_hosts = @failed=""; for h in $(1); do \
	  echo "--- host $$h"; $(MAKE) --no-print-directory host-$$h || failed="$$failed $$h"; \
	done; \
	if [ -n "$$failed" ]; then echo "hosts failed:$$failed"; exit 1; fi

test-hosts:
	$(call run_hosts,$(HOSTS))

test-hosts-fast:
	$(call run_hosts,$(HOSTS_FAST))
