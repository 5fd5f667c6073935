# The C library (libprwlock.so), its C/C++ tests and `make install`.
#   make build          build/libprwlock.so (SONAME libprwlock.so.1) and the
#                       build/libprwlock.so.1 link
#   make test-c         CMake build in build/cmake, then ctest
#   make install        PREFIX=/usr/local by default; DESTDIR is honoured
PREFIX ?= /usr/local
C_SONAME := libprwlock.so.1
C_LIB := $(BUILD)/libprwlock.so
C_LIB_SRCS := $(filter-out %_test.go,$(wildcard $(ROOT)/*.go $(ROOT)/*.c $(ROOT)/*.h $(ROOT)/lock/*.go)) \
	$(ROOT)/include/prwlock.h $(ROOT)/libprwlock.map $(ROOT)/go.mod $(wildcard $(ROOT)/go.sum)
C_CMAKE := $(BUILD)/cmake
C_GO_LDFLAGS := -extldflags '-Wl,--version-script=$(ROOT)/libprwlock.map -Wl,-soname,$(C_SONAME)'
# PRWLOCK_ETCD=1: build (and install) the library with the etcd backend (mk/etcd.mk).
PRWLOCK_ETCD ?= 0

BUILD_TARGETS += $(C_LIB)
TEST_TARGETS += test-c
.PHONY: test-c install

# go build also writes cgo's header, build/libprwlock.h: private, never installed.
$(C_LIB): $(C_LIB_SRCS)
	@mkdir -p $(BUILD)
	cd $(ROOT) && CGO_ENABLED=1 $(GO) build -buildvcs=false -trimpath -buildmode=c-shared \
	  -ldflags "$(C_GO_LDFLAGS)" -o $@ .
	ln -sfn libprwlock.so $(BUILD)/$(C_SONAME)

test-c:
	cmake -S $(ROOT) -B $(C_CMAKE) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPRWLOCK_BUILD_TESTS=ON >/dev/null
	cmake --build $(C_CMAKE) -j2
	cd $(C_CMAKE) && ctest --output-on-failure -j2 --timeout 240

install:
	cmake -S $(ROOT) -B $(BUILD)/cmake-install -DCMAKE_BUILD_TYPE=Release \
	  -DCMAKE_INSTALL_PREFIX=$(PREFIX) -DPRWLOCK_BUILD_TESTS=OFF \
	  -DPRWLOCK_ETCD=$(if $(filter 1,$(PRWLOCK_ETCD)),ON,OFF) >/dev/null
	cmake --build $(BUILD)/cmake-install
	DESTDIR=$(DESTDIR) cmake --install $(BUILD)/cmake-install
