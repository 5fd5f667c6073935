# Install what a fresh Debian machine lacks: build tools and python3-venv from
# Debian (apt-get, with sudo when not root), and the Go modules. Go itself is
# not a Debian package here (Debian 12's golang-go is older than go.mod asks
# for): install a release from go.dev/dl and put its bin/ on PATH; deps-go
# says so when it is missing or too old.
# etcd (Debian's etcd-server) is the server the etcd backend's tests run.
# cargo (with Debian's rustc) builds and tests the Rust binding (mk/hosts.mk).
# luajit and Perl's FFI::Platypus (libffi-platypus-perl) are the hosts of the
# prefork tests in other languages (mk/prefork.mk).
DEB_TOOLS := gcc:gcc g++:g++ cmake:cmake pkg-config:pkg-config make:make python3:python3 etcd:etcd-server \
  cargo:cargo luajit:luajit perl:perl
# Perl modules, as Module:debian-package; each is looked for with perl -MModule.
DEB_PERL_MODULES := FFI::Platypus:libffi-platypus-perl
GO_MIN := $(shell sed -n 's/^go \([0-9][0-9.]*\).*/\1/p' $(ROOT)/go.mod)
.PHONY: deps deps-debian deps-go
deps: deps-debian deps-go

deps-debian:
	@missing=""; for t in $(DEB_TOOLS); do command -v $${t%%:*} >/dev/null 2>&1 || missing="$$missing $${t#*:}"; done; \
	if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then \
	  missing="$$missing python3-venv"; \
	fi; \
	for m in $(DEB_PERL_MODULES); do \
	  perl -M$${m%:*} -e1 >/dev/null 2>&1 || missing="$$missing $${m##*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

deps-go:
	@if ! command -v $(GO) >/dev/null 2>&1; then \
	  echo "prwlock needs Go >= $(GO_MIN) (go.mod): install a release from go.dev/dl and put its bin/ on PATH" >&2; exit 1; \
	fi; \
	have=$$($(GO) env GOVERSION | sed 's/^go//'); \
	if [ "$$(printf '%s\n%s\n' "$(GO_MIN)" "$$have" | sort -V | head -1)" != "$(GO_MIN)" ]; then \
	  echo "prwlock needs Go >= $(GO_MIN) (go.mod), found $$have at $$(command -v $(GO)): install a newer release from go.dev/dl" >&2; exit 1; \
	fi
	@$(GO) mod download
