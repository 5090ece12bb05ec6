package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat: USER_HZ, which
// Linux fixes at 100 on every architecture it exports to user space.
const userHZ = 100

// process is a server or load generator that the harness started, in a
// process group of its own so that its whole tree (nginx's master and
// worker, Varnish's manager and child) can be measured and stopped.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
}

// startProcess runs argv pinned to cpu (taskset; -1 means not pinned) with
// env added to the harness's environment, its stdout and stderr appended to
// logPath.
func startProcess(name string, cpu int, env []string, logPath string, argv ...string) (*process, error) {
	if cpu >= 0 {
		argv = append([]string{"taskset", "-c", strconv.Itoa(cpu)}, argv...)
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(p.exited) }()
	return p, nil
}

// alive reports whether the process has not exited.
func (p *process) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM to the process group, and SIGKILL if it is still there
// after grace.
func (p *process) stop(grace time.Duration) {
	if !p.alive() {
		return
	}
	pgid := p.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.exited
	}
	// Children that outlived their parent are still in the group (and keep
	// its ID from being reused while they live).
	if _, err := groupCPUSeconds("/proc", pgid); err == nil {
		syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// logTail returns the last lines of the process's log, for error messages.
func (p *process) logTail() string {
	b, _ := os.ReadFile(p.logPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}

// cpuSeconds returns the CPU time, user plus system, used so far by every
// process of p's group, including children they have reaped.
func (p *process) cpuSeconds() (float64, error) {
	return groupCPUSeconds("/proc", p.cmd.Process.Pid)
}

// groupCPUSeconds sums utime, stime, cutime and cstime over the processes
// of group pgid. Counting the reaped children's times too keeps the sum
// steady when a child exits between two readings.
func groupCPUSeconds(proc string, pgid int) (float64, error) {
	entries, err := os.ReadDir(proc)
	if err != nil {
		return 0, err
	}
	var ticks int64
	found := false
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(proc, e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		st, err := parseStat(b)
		if err != nil {
			return 0, fmt.Errorf("%s/%s/stat: %w", proc, e.Name(), err)
		}
		if st.pgrp == pgid {
			found = true
			ticks += st.utime + st.stime + st.cutime + st.cstime
		}
	}
	if !found {
		return 0, fmt.Errorf("no process in group %d", pgid)
	}
	return float64(ticks) / userHZ, nil
}

// procStat is what the harness reads from /proc/<pid>/stat.
type procStat struct {
	pgrp                         int
	utime, stime, cutime, cstime int64 // clock ticks
}

// parseStat parses a /proc/<pid>/stat line (proc(5)). The command name,
// field 2, is in parentheses and may hold spaces and parentheses, so the
// fields are counted from the last ')'.
func parseStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errors.New("no command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): field n is f[n-3].
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("%d fields after the command name, want at least 15", len(f))
	}
	var st procStat
	var err error
	num := func(field int) int64 {
		v, e := strconv.ParseInt(f[field-3], 10, 64)
		if e != nil && err == nil {
			err = fmt.Errorf("field %d: %w", field, e)
		}
		return v
	}
	st.pgrp = int(num(5))
	st.utime, st.stime, st.cutime, st.cstime = num(14), num(15), num(16), num(17)
	return st, err
}

// waitTCP waits until addr accepts connections or the process exits.
func waitTCP(ctx context.Context, p *process, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s does not accept connections on %s: %w\n%s", p.name, addr, ctx.Err(), p.logTail())
		case <-p.exited:
			return fmt.Errorf("%s exited: %v\n%s", p.name, p.cmd.ProcessState, p.logTail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// checkPortsFree fails when one of addrs is taken, so that a server the
// harness did not start is never measured by mistake.
func checkPortsFree(addrs ...string) error {
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			return fmt.Errorf("port %s is taken (choose others with -port-base): %w", a, err)
		}
		ln.Close()
	}
	return nil
}
