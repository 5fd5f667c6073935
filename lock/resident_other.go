//go:build !linux

package lock

// touchedPages: every page may hold data.
func (s *segment) touchedPages() touchedPages { return touchedPages{} }
