//go:build !linux

package main

import (
	"context"
	"log/slog"
	"time"
)

// requestHandOff finds no serving process outside Linux, where the
// listeners are not handed over: a restart there stops the old process
// first.
func requestHandOff(context.Context, string) (*handOff, error) { return nil, nil }

// handOffServer offers nothing outside Linux.
type handOffServer struct{}

// offerListeners offers nothing outside Linux.
func offerListeners(string, []namedListener, *slog.Logger) (*handOffServer, error) {
	return nil, nil
}

// Taken is never ready outside Linux.
func (s *handOffServer) Taken() <-chan struct{} { return nil }

// WaitServing has no process to wait for outside Linux.
func (s *handOffServer) WaitServing(context.Context, time.Duration) error { return nil }

// Close does nothing outside Linux.
func (s *handOffServer) Close() error { return nil }
