//go:build !linux

package main

import "syscall"

// reusePort does nothing outside Linux, where a second process cannot bind
// the same addresses: a restart there stops the old process first.
func reusePort(_, _ string, _ syscall.RawConn) error { return nil }
