package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestDrainAnswersAcceptedConnections stops a server while connections it
// has accepted have not sent their request yet: each request sent then is
// answered, where http.Server.Shutdown alone would close the connection
// without an answer.
func TestDrainAnswersAcceptedConnections(t *testing.T) {
	for _, quiesce := range []bool{true, false} {
		t.Run(fmt.Sprintf("quiesce %v", quiesce), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, "answered")
			})}
			var d connDrain
			d.hook(srv)
			served := make(chan struct{})
			go func() { srv.Serve(ln); close(served) }()

			const n = 4
			var conns []net.Conn
			for range n {
				c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				conns = append(conns, c)
			}
			waitTracked := func() bool {
				d.mu.Lock()
				defer d.mu.Unlock()
				return len(d.conns) == n
			}
			for deadline := time.Now().Add(10 * time.Second); !waitTracked(); time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the server did not accept the connections")
				}
			}

			ln.Close()
			<-served
			began := make(chan struct{})
			srv.RegisterOnShutdown(func() { close(began) })
			stopped := make(chan struct{})
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if quiesce {
					d.quiesce(ctx, srv)
				}
				srv.Shutdown(ctx)
				close(stopped)
			}()
			if !quiesce {
				<-began // Shutdown alone, begun before the requests
			}
			answered := 0
			for _, c := range conns {
				fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err == nil && resp.StatusCode == 200 {
					answered++
					resp.Body.Close()
				}
			}
			<-stopped
			if want := map[bool]int{true: n, false: 0}[quiesce]; answered != want {
				t.Errorf("%d of %d requests answered, want %d", answered, n, want)
			}
		})
	}
}
