# The Python wheel and sdist, checked under every CPython the machine has.
#   make wheel          build/dist/: the wheel (py3-none-manylinux_2_N_<arch>,
#                       library stripped) and the sdist (with the Go sources)
#   make wheel-check    install that wheel into a fresh venv of each CPython
#                       3.9-3.13 found (pyenv's, and python3) and use it there.
#                       Not part of `make test`: it builds a venv per version.
# WHEEL_PYTHONS overrides the list of interpreters.
DIST := $(BUILD)/dist
PYENV_ROOT ?= $(HOME)/.pyenv
WHEEL_PYTHONS ?= $(shell for v in 3.9 3.10 3.11 3.12 3.13; do \
	  p=$$(ls -d $(PYENV_ROOT)/versions/$$v.*/bin/python$$v 2>/dev/null | sort -V | tail -1); \
	  [ -n "$$p" ] && echo $$p || command -v python$$v; done)
.PHONY: wheel wheel-check

wheel: $(PY_STAMP)
	rm -rf $(DIST)
	$(PY) -m pip wheel --no-deps --no-build-isolation --disable-pip-version-check -q -w $(DIST) $(ROOT)/python
	cd $(ROOT)/python && $(PY) -m hatchling build -t sdist -d $(DIST)
	@ls -l $(DIST)

wheel-check: wheel
	bash $(ROOT)/mk/wheel-check.sh $(DIST)/prwlock-*.whl $(BUILD)/wheel-check $(WHEEL_PYTHONS)
