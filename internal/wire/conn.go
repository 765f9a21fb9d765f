package wire

import (
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// TokenEnv is the environment variable every command reads the access token
// from when -token is not given.
const TokenEnv = "FOURINONE_TOKEN"

// ConnOptions are the options every role uses to connect to a park server or
// a workman's listener. TLS and credentials will join Token here.
type ConnOptions struct {
	// Token is the access token; blank means none.
	Token string
	// Name names the connection in the server's monitoring.
	Name string
	// MaxReconnects is how often a dropped connection is retried; 0 means
	// forever, a negative value never.
	MaxReconnects int
}

// Connect dials url with o.
func Connect(url string, o ConnOptions) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.Timeout(5 * time.Second),
		// Framework messages are few and big; the defaults (64 MiB) would
		// drop a whole chunked Warehouse for one slow reader.
		nats.ReconnectBufSize(-1),
	}
	switch {
	case o.MaxReconnects == 0:
		opts = append(opts, nats.MaxReconnects(-1))
	case o.MaxReconnects < 0:
		opts = append(opts, nats.NoReconnect())
	default:
		opts = append(opts, nats.MaxReconnects(o.MaxReconnects))
	}
	if o.Token != "" {
		opts = append(opts, nats.Token(o.Token))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", url, err)
	}
	return nc, nil
}
