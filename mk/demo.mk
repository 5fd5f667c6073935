# make demo: Go, C and Python processes sharing one named lock (tests/demo).
.PHONY: demo
demo: build
	@bash $(ROOT)/tests/demo/demo.sh
