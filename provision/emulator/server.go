package emulator

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server serves an Emulator on a TCP address.
type Server struct {
	ln   net.Listener
	srv  *http.Server
	done chan struct{}

	mu    sync.Mutex
	fresh map[net.Conn]bool // connections that have not sent a request yet
}

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves e in the
// background until Close.
func Start(addr string, e *Emulator) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{ln: ln, done: make(chan struct{}), fresh: map[net.Conn]bool{}}
	s.srv = &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second, ConnState: s.track}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// track remembers the connections that have not sent a request: Shutdown
// would wait five seconds before it counts them idle.
func (s *Server) track(c net.Conn, state http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if state == http.StateNew {
		s.fresh[c] = true
	} else {
		delete(s.fresh, c)
	}
}

// Addr returns the address served, host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL returns http://host:port.
func (s *Server) URL() string { return "http://" + s.Addr() }

// CloudElementsURL returns the base URL of the Cloud Elements / Open
// Connectors API, http://host:port/elements/api-v2.
func (s *Server) CloudElementsURL() string { return s.URL() + CloudElementsPrefix }

// FlowServiceURL returns the base URL of the Flow Service API,
// http://host:port/data/foundation/flowservice.
func (s *Server) FlowServiceURL() string { return s.URL() + FlowServicePrefix }

// StatsURL returns the URL of the counters, http://host:port/_emulator/stats.
func (s *Server) StatsURL() string { return s.URL() + StatsPath }

// Close stops serving: it lets requests in flight finish for up to two
// seconds, then closes every connection. Connections a client opened but never
// used are closed at once.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.ln.Close() // no new connections; Serve returns
	s.mu.Lock()
	for c := range s.fresh {
		c.Close()
	}
	s.mu.Unlock()
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = s.srv.Close()
	}
	if errors.Is(err, net.ErrClosed) {
		// Shutdown closes the listener again when Serve has not returned yet
		// from the close above: that listener is closed, as wanted.
		err = nil
	}
	<-s.done
	return err
}
