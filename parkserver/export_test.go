package parkserver

import "time"

// SetStreamWriteTimeout sets how long an event stream's write may wait,
// until the test ends.
func SetStreamWriteTimeout(t interface{ Cleanup(func()) }, d time.Duration) {
	old := streamWriteTimeout
	streamWriteTimeout = d
	t.Cleanup(func() { streamWriteTimeout = old })
}
