# The Python suite under every supported CPython (3.9-3.13), from pyenv.
#   make test-pythons   the full suite on the newest version found, a smoke
#                       subset on the others; a version that is not installed
#                       is skipped with a message, not failed
# Each version gets its own venv in build/pythons/<version>/ with the pins of
# python/requirements-pythons.txt; the package is used from python/src.
# PYTHONS_FULL names the version that runs the full suite (default: the newest).
PYTHONS_VERSIONS ?= 3.9 3.10 3.11 3.12 3.13
PYTHONS_FULL ?=
# The smoke subset: the API, signals (slices, Ctrl-C), contention, fork and
# the start methods (3.12+ warns on fork in a threaded process), the ctypes
# fallback, typing conventions and asyncio where present.
PYTHONS_SMOKE ?= test_api.py test_signals.py test_contention.py test_fork.py test_sharing.py test_lib.py test_conventions.py test_async.py
PYENV_ROOT ?= $(HOME)/.pyenv

TEST_TARGETS += test-pythons
.PHONY: test-pythons

test-pythons: $(BUILD)/libprwlock.so
	@PYENV_ROOT="$(PYENV_ROOT)" BUILD="$(BUILD)" ROOT="$(ROOT)" PYTHONS_FULL="$(PYTHONS_FULL)" \
	  PYTHONS_SMOKE="$(PYTHONS_SMOKE)" bash $(ROOT)/mk/test-pythons.sh $(PYTHONS_VERSIONS)
