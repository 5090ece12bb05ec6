//go:build !unix

package origin

import (
	"net"
	"os"
)

// poller would read what a connection's socket holds without waiting for
// more; this platform has none, and an idle connection is checked only
// for the bytes already read from it (see h1Conn.stale).
type poller struct{}

func newPoller(net.Conn) *poller { return nil }

func (*poller) read([]byte) (int, error) { return 0, os.ErrDeadlineExceeded }

func (*poller) sawBytes() bool { return false }
