# Other runtimes hosting libprwlock.so: the bindings' tests and host programs.
#   make test-hosts       every host below (a failing host does not stop the others)
#   make test-hosts-fast  the hosts in HOSTS_FAST; part of `make test`
# Adding a host: one `host-NAME:` rule (its prerequisites and its test command,
# run from the repository), and NAME in HOSTS (and in HOSTS_FAST if it is fast
# and needs nothing beyond what `make deps` installs).
HOSTS      :=
HOSTS_FAST :=
HOST_ENV   := PRWLOCK_LIB_DIR=$(BUILD)

TEST_TARGETS += test-hosts-fast
.PHONY: test-hosts test-hosts-fast

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
