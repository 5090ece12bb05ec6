package crashtest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"syscall"
	"time"
)

// Credentials the server accepts: passed in its environment, so that it
// writes no credentials file.
const (
	accessKeyID     = "AKPTCRASHTEST0000001"
	secretAccessKey = "crash-test-secret-access-key"
)

// startTimeout bounds how long a start may take before the server has said
// where it listens: generous, as the machine is shared and loaded.
const startTimeout = 60 * time.Second

var listeningLine = regexp.MustCompile(`msg=listening api=(\S+) http=(\S+) https=(\S+) dns=(\S+)`)

// server is one running `portico serve` process.
type server struct {
	cmd    *exec.Cmd
	logs   *tailBuffer
	exited chan struct{} // closed once the process has been waited for
	api    string        // host:port of the control plane
}

// startServer runs bin on dataDir with every listener on a free loopback
// port, and returns once the server says where it listens.
func startServer(bin, dataDir string) (*server, error) {
	s, listening, err := spawnServer(bin, dataDir)
	if err != nil {
		return nil, err
	}
	select {
	case s.api = <-listening:
		return s, nil
	case <-s.exited:
		return nil, fmt.Errorf("portico exited (%v) before listening:\n%s", s.cmd.ProcessState, s.logs)
	case <-time.After(startTimeout):
		s.kill()
		return nil, fmt.Errorf("portico did not say where it listens within %v:\n%s", startTimeout, s.logs)
	}
}

// spawnServer starts bin on dataDir. The API address arrives on listening
// once the server has bound every listener and loaded its configuration.
func spawnServer(bin, dataDir string) (s *server, listening <-chan string, err error) {
	s = &server{logs: newTailBuffer(256 << 10), exited: make(chan struct{})}
	s.cmd = exec.Command(bin, "serve", "--data", dataDir,
		"--api", "127.0.0.1:0", "--http", "127.0.0.1:0", "--https", "127.0.0.1:0", "--dns", "127.0.0.1:0")
	s.cmd.Env = append(os.Environ(),
		"PORTICO_ACCESS_KEY_ID="+accessKeyID, "PORTICO_SECRET_ACCESS_KEY="+secretAccessKey)
	s.cmd.Stdout = io.Discard // the banner; the log line below says the same
	dieWithParent(s.cmd)
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("starting portico: %w", err)
	}
	api := make(chan string, 1)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			s.logs.WriteString(line + "\n")
			if m := listeningLine.FindStringSubmatch(line); m != nil {
				api <- m[1]
			}
		}
		io.Copy(io.Discard, stderr) // a line over 1 MiB: keep the pipe drained
	}()
	go func() {
		<-copied // Wait closes the pipe: read it to the end first
		s.cmd.Wait()
		close(s.exited)
	}()
	return s, api, nil
}

// kill sends SIGKILL and waits until the process is gone. It returns an
// error if the process had ended some other way: an exit or another signal
// is a crash of Portico's own making.
func (s *server) kill() error {
	s.cmd.Process.Signal(syscall.SIGKILL) // fails only if it is gone already
	<-s.exited
	if ws, ok := s.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
		return nil
	}
	return fmt.Errorf("portico ended on its own (%v) before it was killed:\n%s", s.cmd.ProcessState, s.logs)
}

// tailBuffer keeps the last max bytes written to it. It is safe for
// concurrent use.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (b *tailBuffer) WriteString(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, s...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
}

// String returns the kept bytes.
func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
