# The Python package (python/) and its tests (tests/python/).
#   make build          also creates .venv/ with the pinned test dependencies and
#                       the package in development mode (a .pth file pointing at
#                       python/src), so `.venv/bin/python -c "import prwlock"` works
#   make test-python    pytest on tests/python (needs build/libprwlock.so)
PY_VENV   := $(ROOT)/.venv
PY        := $(PY_VENV)/bin/python
PY_STAMP  := $(PY_VENV)/.prwlock-dev
PY_SYS    ?= python3
# pytest workers: the suite is written to be parallel-safe; 2 matches the machine.
PYTEST_WORKERS ?= 2

BUILD_TARGETS += python-dev
TEST_TARGETS += test-python
.PHONY: python-dev test-python

$(PY_STAMP): $(ROOT)/python/requirements-test.txt $(ROOT)/mk/python.mk
	$(PY_SYS) -m venv $(PY_VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r $(ROOT)/python/requirements-test.txt
	$(PY) -c 'import sysconfig, pathlib; pathlib.Path(sysconfig.get_path("purelib"), "prwlock-dev.pth").write_text("$(ROOT)/python/src\n")'
	$(PY) -c 'import prwlock'
	touch $@

python-dev: $(PY_STAMP)

# The library is built by mk/c.mk's rule for $(BUILD)/libprwlock.so.
test-python: $(PY_STAMP) $(BUILD)/libprwlock.so
	cd $(ROOT) && env -u PRWLOCK_LIBRARY $(PY) -m pytest -n $(PYTEST_WORKERS) \
	  -o tmp_path_retention_policy=failed tests/python
