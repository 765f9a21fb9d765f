package wire

import (
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Pool holds one Client per URL, dialled on first use and redialled once its
// connection has closed. It is safe for concurrent use.
type Pool struct {
	opts    ConnOptions
	maxSize int

	mu      sync.Mutex // guards clients, shared, closed
	clients map[string]*pooled
	shared  map[string]*Client // clients on connections the pool does not own
	closed  bool
}

type pooled struct {
	nc *nats.Conn
	c  *Client
}

// Peer connections ping their server every peerPing, and are dropped with
// peerPingsOut unanswered: a link that drops packets without a reset (a
// partition, a black hole) fails its calls within peerPing x (peerPingsOut
// + 1), 8 s, where NATS's defaults would take minutes.
const (
	peerPing     = 2 * time.Second
	peerPingsOut = 3
)

// NewPool returns a Pool dialling with opts. Peer connections do not
// reconnect: a dropped connection fails its calls, and the next Get dials
// again.
func NewPool(opts ConnOptions, maxSize int) *Pool {
	opts.MaxReconnects = -1
	opts.PingInterval, opts.MaxPingsOut = peerPing, peerPingsOut
	return &Pool{opts: opts, maxSize: maxSize, clients: make(map[string]*pooled), shared: make(map[string]*Client)}
}

// Share makes Get return c for url: a connection the caller already has
// (the park connection, in hub mode). The pool does not close it.
func (p *Pool) Share(url string, c *Client) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.shared[url] = c
}

// Get returns the Client for url.
func (p *Pool) Get(url string) (*Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	if c := p.shared[url]; c != nil {
		return c, nil
	}
	if pc := p.clients[url]; pc != nil {
		if !pc.nc.IsClosed() {
			return pc.c, nil
		}
		pc.c.Close()
		delete(p.clients, url)
	}
	// Dialling under the lock keeps one connection per URL; dials are rare.
	nc, err := Connect(url, p.opts)
	if err != nil {
		return nil, err
	}
	c, err := NewClient(nc, p.maxSize)
	if err != nil {
		nc.Close()
		return nil, err
	}
	p.clients[url] = &pooled{nc: nc, c: c}
	return c, nil
}

// Close closes every connection the pool dialled. It is safe to call twice.
func (p *Pool) Close() {
	p.mu.Lock()
	clients := p.clients
	p.clients, p.closed = nil, true
	p.mu.Unlock()
	for _, pc := range clients {
		pc.c.Close()
		pc.nc.Close()
	}
}
