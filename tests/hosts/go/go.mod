// A Go program that links libprwlock.so through cgo, as a Go user of the C
// library would (the Go engine, package lock, is what Go code normally
// imports). Its own module, so that `go test ./...` at the root leaves it
// to `make test-hosts`, which builds the library first.
module prwlock.test/hosts/go

go 1.22
