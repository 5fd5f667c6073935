# Node (bindings/node) and Java (bindings/java) as hosts of mk/hosts.mk.
#   make host-node      node --test (fast: in HOSTS_FAST, so in `make test`);
#                       the first run installs koffi with `npm ci`
#   make host-java      Maven on a JDK >= 22 (child JVMs: in `make test-hosts`)
# Both use build/libprwlock.so through PRWLOCK_LIBRARY.
NODE ?= node
NPM  ?= npm
MVN  ?= mvn
NODE_DIR   := $(ROOT)/bindings/node
NODE_STAMP := $(NODE_DIR)/node_modules/.prwlock-installed
JAVA_DIR   := $(ROOT)/bindings/java
JAVA_MIN   := 22

HOSTS      += node java
HOSTS_FAST += node
.PHONY: host-node host-java node-deps

node-deps:
	@v=$$($(NODE) -p 'process.versions.node.split(".")[0]' 2>/dev/null); \
	if [ -z "$$v" ] || [ "$$v" -lt 20 ]; then \
	  echo "bindings/node needs Node.js >= 20 and npm (found: $${v:-none}); install them from nodejs.org or your distribution" >&2; exit 1; \
	fi

$(NODE_STAMP): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json | node-deps
	cd $(NODE_DIR) && $(NPM) ci --no-audit --no-fund --loglevel=error
	touch $@

host-node: node-deps $(NODE_STAMP) $(C_LIB)
	cd $(NODE_DIR) && PRWLOCK_LIBRARY=$(C_LIB) $(NODE) --test --test-concurrency=1 test/*.test.js

# java_home: $JAVA_HOME if it is a JDK >= JAVA_MIN, else the newest such JDK
# under /usr/lib/jvm.
java_home = $(shell for h in "$$JAVA_HOME" $$(ls -d /usr/lib/jvm/*/ 2>/dev/null | sort -rV); do \
	  v=$$("$$h/bin/javac" -version 2>&1 | sed -n 's/^javac \([0-9]*\).*/\1/p'); \
	  if [ -n "$$v" ] && [ "$$v" -ge $(JAVA_MIN) ]; then echo "$${h%/}"; break; fi; done)

host-java: $(C_LIB)
	@command -v $(MVN) >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq maven; }
	@jh="$(java_home)"; \
	if [ -z "$$jh" ]; then echo "bindings/java needs a JDK >= $(JAVA_MIN) (java.lang.foreign); set JAVA_HOME to one" >&2; exit 1; fi; \
	echo "JAVA_HOME=$$jh"; \
	cd $(JAVA_DIR) && JAVA_HOME="$$jh" PRWLOCK_LIBRARY=$(C_LIB) $(MVN) -B -ntp test
