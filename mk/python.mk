# The Python package (python/) and its tests (tests/python/).
#   make build          also creates .venv/ with the pinned test dependencies and
#                       the package in development mode (a .pth file pointing at
#                       python/src), so `.venv/bin/python -c "import prwlock"` works
#   make test-python    pytest on tests/python (needs build/libprwlock.so)
#   make test-types     mypy --strict and pyright on python/src
#   make docs           the API reference from the docstrings: build/docs/python/
PY_VENV   := $(ROOT)/.venv
PY        := $(PY_VENV)/bin/python
PY_STAMP  := $(PY_VENV)/.prwlock-dev
PY_SYS    ?= python3
# pytest workers: the suite is written to be parallel-safe; 2 matches the machine.
PYTEST_WORKERS ?= 2

# prwlock 0.4.1's sdist, pinned by hash: tests/python/test_compat041_suite.py
# runs its own test suite against this package.
COMPAT041 := $(BUILD)/compat041/prwlock-0.4.1.tar.gz

BUILD_TARGETS += python-dev
TEST_TARGETS += test-python test-types
.PHONY: python-dev test-python test-types docs

$(PY_STAMP): $(ROOT)/python/requirements-test.txt $(ROOT)/mk/python.mk
	$(PY_SYS) -m venv $(PY_VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r $(ROOT)/python/requirements-test.txt
	$(PY) -c 'import sysconfig, pathlib; pathlib.Path(sysconfig.get_path("purelib"), "prwlock-dev.pth").write_text("$(ROOT)/python/src\n")'
	$(PY) -c 'import prwlock'
	touch $@

python-dev: $(PY_STAMP) $(COMPAT041)

$(COMPAT041): $(ROOT)/python/compat041.txt | $(PY_STAMP)
	$(PY) -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: --require-hashes \
	  -r $(ROOT)/python/compat041.txt -d $(dir $@)
	touch $@

# The library is built by mk/c.mk's rule for $(BUILD)/libprwlock.so.
test-python: $(PY_STAMP) $(BUILD)/libprwlock.so $(COMPAT041)
	cd $(ROOT) && env -u PRWLOCK_LIBRARY $(PY) -m pytest -n $(PYTEST_WORKERS) \
	  -o tmp_path_retention_policy=failed tests/python

# pyright: the PyPI package bundles the checker and runs it with the
# machine's node; IGNORE_WARNINGS skips its check for a newer version on
# PyPI, so it runs offline. --pythonversion 3.9: the oldest supported.
test-types: $(PY_STAMP)
	cd $(ROOT) && $(PY) -m mypy --strict python/src
	cd $(ROOT) && PYRIGHT_PYTHON_IGNORE_WARNINGS=1 $(PY_VENV)/bin/pyright --pythonpath $(PY) --pythonversion 3.9 python/src

# Sphinx autodoc over python/src; -W: a docstring sphinx cannot read fails.
docs: $(PY_STAMP)
	$(PY) -m sphinx -b html -W --keep-going -q $(ROOT)/docs/python $(BUILD)/docs/python
	@echo "API reference: $(BUILD)/docs/python/index.html"
