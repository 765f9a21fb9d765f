// Package slowlink is a TCP proxy that delays what it forwards: each
// chunk read from one side is written to the other a delay (plus or minus
// a jitter) after it was read, in order. Tests and benchmarks put it
// between a foreman and its workmen to see a job over a link with
// latency (tc netem is not on every kernel).
package slowlink

import (
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// Proxy forwards the connections to one listener to one address.
type Proxy struct {
	ln            net.Listener
	to            string
	delay, jitter time.Duration

	mu     sync.Mutex
	conns  map[net.Conn]bool
	closed bool
	wg     sync.WaitGroup
}

// Listen starts a proxy on listen (host:port, port 0 for any) forwarding
// to to, each way delayed by delay plus or minus up to jitter.
func Listen(listen, to string, delay, jitter time.Duration) (*Proxy, error) {
	if delay < 0 || jitter < 0 || jitter > delay {
		return nil, errors.New("slowlink: want 0 <= jitter <= delay")
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, to: to, delay: delay, jitter: jitter, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address the proxy listens on.
func (p *Proxy) Addr() net.Addr { return p.ln.Addr() }

// Close stops the proxy and closes its connections.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

// track adds c to the connections Close closes, or closes it if the proxy
// is closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = true
	return true
}

// untrack forgets c, closed.
func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(in) {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.untrack(in)
			out, err := net.Dial("tcp", p.to)
			if err != nil || !p.track(out) {
				in.Close()
				return
			}
			defer p.untrack(out)
			var pipes sync.WaitGroup
			pipes.Add(2)
			go func() { defer pipes.Done(); p.pipe(out, in) }()
			go func() { defer pipes.Done(); p.pipe(in, out) }()
			pipes.Wait()
		}()
	}
}

// chunk is what one read returned, and when to write it.
type chunk struct {
	b  []byte
	at time.Time
}

// pipe copies src to dst, each chunk delayed; when either side ends, both
// are closed.
func (p *Proxy) pipe(dst, src net.Conn) {
	// A chunk is at most 32 KiB and at most 256 wait: a bounded buffer
	// whatever the sender sends (a sender faster than the link waits).
	q := make(chan chunk, 256)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range q {
			time.Sleep(time.Until(c.at))
			if _, err := dst.Write(c.b); err != nil {
				break
			}
		}
		dst.Close()
		src.Close()
		for range q { // let the reader end
		}
	}()
	var last time.Time
	for {
		b := make([]byte, 32<<10)
		n, err := src.Read(b)
		if n > 0 {
			d := p.delay
			if p.jitter > 0 {
				d += time.Duration(rand.Int64N(int64(2*p.jitter)+1)) - p.jitter
			}
			// In order: never before the chunk ahead of it.
			at := time.Now().Add(d)
			if at.Before(last) {
				at = last
			}
			last = at
			q <- chunk{b[:n], at}
		}
		if err != nil { // the end, a reset or Close: the writer closes both
			break
		}
	}
	close(q)
	<-done
}
