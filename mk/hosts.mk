# The library inside other runtimes: the bindings' own test suites.
#   make test-node      bindings/node under node --test (in `make test`: a few
#                       seconds); the first run installs koffi with `npm ci`
#   make test-java      bindings/java under Maven on a JDK >= 22 (slow: JVM
#                       children; in `make test-hosts` only)
#   make test-hosts     the host matrix (`.ci/run` runs it after `make test`)
# Each uses build/libprwlock.so through PRWLOCK_LIBRARY.
NODE ?= node
NPM  ?= npm
MVN  ?= mvn
NODE_DIR   := $(ROOT)/bindings/node
NODE_STAMP := $(NODE_DIR)/node_modules/.prwlock-installed
JAVA_DIR   := $(ROOT)/bindings/java
JAVA_MIN   := 22

TEST_TARGETS += test-node
HOSTS_TARGETS += test-java
.PHONY: test-node test-java test-hosts node-deps

node-deps:
	@v=$$($(NODE) -p 'process.versions.node.split(".")[0]' 2>/dev/null); \
	if [ -z "$$v" ] || [ "$$v" -lt 20 ]; then \
	  echo "bindings/node needs Node.js >= 20 and npm (found: $${v:-none}); install them from nodejs.org or your distribution" >&2; exit 1; \
	fi

$(NODE_STAMP): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json | node-deps
	cd $(NODE_DIR) && $(NPM) ci --no-audit --no-fund --loglevel=error
	touch $@

test-node: node-deps $(NODE_STAMP) $(C_LIB)
	cd $(NODE_DIR) && PRWLOCK_LIBRARY=$(C_LIB) $(NODE) --test --test-concurrency=1 test/*.test.js

# java_home: $JAVA_HOME if it is a JDK >= JAVA_MIN, else the newest such JDK
# under /usr/lib/jvm.
java_home = $(shell for h in "$$JAVA_HOME" $$(ls -d /usr/lib/jvm/*/ 2>/dev/null | sort -rV); do \
	  v=$$("$$h/bin/javac" -version 2>&1 | sed -n 's/^javac \([0-9]*\).*/\1/p'); \
	  if [ -n "$$v" ] && [ "$$v" -ge $(JAVA_MIN) ]; then echo "$${h%/}"; break; fi; done)

test-java: $(C_LIB)
	@command -v $(MVN) >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq maven; }
	@jh="$(java_home)"; \
	if [ -z "$$jh" ]; then echo "bindings/java needs a JDK >= $(JAVA_MIN) (java.lang.foreign); set JAVA_HOME to one" >&2; exit 1; fi; \
	echo "JAVA_HOME=$$jh"; \
	cd $(JAVA_DIR) && JAVA_HOME="$$jh" PRWLOCK_LIBRARY=$(C_LIB) $(MVN) -B -ntp test

test-hosts: build
	@MAKE="$(MAKE)" bash $(ROOT)/mk/run-tests.sh $(HOSTS_TARGETS)
