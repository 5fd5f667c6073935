# The etcd backend (lock/etcd*.go, build tag prwlock_etcd) and its tests.
#   make build-etcd       build/etcd/libprwlock.so: the library with the backend
#                         (what the Python wheel ships); build/libprwlock.so
#                         stays local-only, because the etcd client costs
#                         local-only users several times the size, load time
#                         and RSS (README, Across machines)
#   make test-etcd        Go tests of the backend (-race) against loopback etcd
#                         servers, and the cross-language tests (C, Go, Python
#                         on one etcd lock); part of `make test`
#   make test-etcd-chaos  clients and etcd members killed at random while
#                         workers check exclusion (ETCD_CHAOS_SECONDS, 60)
# The server is Debian's etcd-server (mk/deps.mk), or $PRWLOCK_ETCD.
ETCD_DIR  := $(BUILD)/etcd
ETCD_LIB  := $(ETCD_DIR)/libprwlock.so
ETCD_SRC  := $(ROOT)/tests/etcd
ETCD_TAGS := -tags prwlock_etcd
ETCD_CHAOS_SECONDS ?= 60
ETCD_GO_SRCS := $(C_LIB_SRCS) $(wildcard $(ROOT)/internal/etcdtest/*.go)

BUILD_TARGETS += $(ETCD_LIB)
TEST_TARGETS += test-etcd
.PHONY: build-etcd test-etcd test-etcd-go test-etcd-cross test-etcd-chaos etcd-tools

$(ETCD_LIB): $(ETCD_GO_SRCS)
	@mkdir -p $(ETCD_DIR)
	cd $(ROOT) && CGO_ENABLED=1 $(GO) build -buildvcs=false -trimpath -buildmode=c-shared $(ETCD_TAGS) \
	  -ldflags "$(C_GO_LDFLAGS)" -o $@ .
	ln -sfn libprwlock.so $(ETCD_DIR)/$(C_SONAME)

build-etcd: $(ETCD_LIB)

$(ETCD_DIR)/etcdrun: $(wildcard $(ETCD_SRC)/etcdrun/*.go) $(ETCD_GO_SRCS)
	cd $(ROOT) && $(GO) build -buildvcs=false $(ETCD_TAGS) -o $@ ./tests/etcd/etcdrun

$(ETCD_DIR)/goworker: $(wildcard $(ETCD_SRC)/goworker/*.go) $(ETCD_GO_SRCS)
	cd $(ROOT) && $(GO) build -buildvcs=false $(ETCD_TAGS) -o $@ ./tests/etcd/goworker

$(ETCD_DIR)/cworker: $(ETCD_SRC)/cworker.c $(ROOT)/include/prwlock.h $(ETCD_LIB)
	$(CC) -O2 -g -Wall -Wextra -Werror -std=gnu11 -pthread -I$(ROOT)/include -o $@ $< \
	  -L$(ETCD_DIR) -lprwlock -Wl,-rpath,$(ETCD_DIR)

etcd-tools: $(ETCD_LIB) $(ETCD_DIR)/etcdrun $(ETCD_DIR)/goworker $(ETCD_DIR)/cworker $(PY_STAMP)

test-etcd: test-etcd-go test-etcd-cross

test-etcd-go: deps
	$(GO) test -race -count=1 -timeout 600s $(ETCD_TAGS) -run 'Etcd' ./lock

test-etcd-cross: etcd-tools
	cd $(ROOT) && PRWLOCK_LIBRARY=$(ETCD_LIB) PRWLOCK_ETCD_TOOLS=$(ETCD_DIR) \
	  $(PY) -m pytest -p no:cacheprovider tests/etcd

test-etcd-chaos: etcd-tools
	cd $(ROOT) && PRWLOCK_LIBRARY=$(ETCD_LIB) PRWLOCK_ETCD_TOOLS=$(ETCD_DIR) \
	  PRWLOCK_ETCD_CHAOS_SECONDS=$(ETCD_CHAOS_SECONDS) \
	  $(PY) -m pytest -p no:cacheprovider -s tests/etcd/chaos_etcd.py
