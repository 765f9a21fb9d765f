package parkserver

import "time"

// SetStreamWriteTimeout sets how long an event stream's write may wait,
// until the test ends.
func SetStreamWriteTimeout(t interface{ Cleanup(func()) }, d time.Duration) {
	old := streamWriteTimeout
	streamWriteTimeout = d
	t.Cleanup(func() { streamWriteTimeout = old })
}

// ClusterAddr is the host:port the server takes routes on.
func (s *Server) ClusterAddr() string { return s.cfg.Cluster }
