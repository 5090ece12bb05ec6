//go:build !linux

package edgeserver

import (
	"errors"
	"os"
	"time"
)

// sendfileSupported reports whether fastConn.sendFile works here.
const sendfileSupported = false

// sendfileState is empty where sendfileSupported is false.
type sendfileState struct{}

// sendFile is not used where sendfileSupported is false.
func (c *fastConn) sendFile(head []byte, f *os.File, off, n int64, now time.Time) error {
	return errors.ErrUnsupported
}
