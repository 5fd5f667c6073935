# Install what a fresh machine lacks: Debian build tools and Go modules.
# etcd (Debian's etcd-server) is the server the etcd backend's tests run.
DEB_TOOLS := gcc:gcc g++:g++ cmake:cmake pkg-config:pkg-config make:make etcd:etcd-server
.PHONY: deps deps-debian deps-go
deps: deps-debian deps-go

deps-debian:
	@missing=""; for t in $(DEB_TOOLS); do command -v $${t%%:*} >/dev/null 2>&1 || missing="$$missing $${t#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

deps-go:
	@$(GO) mod download
