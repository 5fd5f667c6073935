# The prefork pattern from hosts other than C and Python (tests/hosts/): a
# parent opens and uses a named lock, then forks workers without exec (one
# nesting 3 deep) that use the inherited handle under the parent's
# contention and then open the lock anew, checking exclusion inside every
# critical section. The C version is tests/c/test_prefork.c (make test-c),
# the Python one tests/python/test_prefork.py (make test-python).
#   make test-prefork-hosts     LuaJIT (its ffi) and Perl (FFI::Platypus),
#                               both from Debian (mk/deps.mk); part of
#                               `make test`
#   make measure-prefork-hosts  not a test: in each host, a fork child's first
#                               call on an inherited handle, its first call
#                               that needs the engine, and the parent's read
#                               pair (PREFORK_MEASURE_CHILDREN children)
PREFORK_HOSTS := $(ROOT)/tests/hosts
PREFORK_MEASURE_CHILDREN ?= 20

TEST_TARGETS += test-prefork-hosts
.PHONY: test-prefork-hosts test-prefork-luajit test-prefork-perl measure-prefork-hosts

test-prefork-hosts: test-prefork-luajit test-prefork-perl

test-prefork-luajit: deps $(C_LIB)
	luajit $(PREFORK_HOSTS)/luajit/prefork.lua $(C_LIB)

test-prefork-perl: deps $(C_LIB)
	perl $(PREFORK_HOSTS)/perl/prefork.pl $(C_LIB)

measure-prefork-hosts: deps $(C_LIB)
	luajit $(PREFORK_HOSTS)/luajit/prefork.lua $(C_LIB) --measure $(PREFORK_MEASURE_CHILDREN)
	perl $(PREFORK_HOSTS)/perl/prefork.pl $(C_LIB) --measure $(PREFORK_MEASURE_CHILDREN)
