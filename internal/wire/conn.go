package wire

import (
	"fmt"
	"strings"
	"time"

	"github.com/fourinone-go/fourinone/security"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// ConnOptions are the options every role uses to connect to a park server or
// a workman's listener.
type ConnOptions struct {
	// Security is how the connection authenticates and whether it uses
	// TLS.
	Security security.Config
	// Name names the connection in the server's monitoring.
	Name string
	// Member, if set, is the member's name (its workman or foreman ID):
	// the connection's replies then come under security.InboxPrefix +
	// "." + Member, the only inboxes its credentials let it read.
	Member string
	// MaxReconnects is how often a dropped connection is retried; 0 means
	// forever, a negative value never.
	MaxReconnects int
	// PingInterval, if set, is how often the connection pings its server;
	// with MaxPingsOut unanswered it is stale and dropped. If zero, NATS's
	// defaults (every 2 minutes, 2 unanswered).
	PingInterval time.Duration
	MaxPingsOut  int
}

// options returns the nats.Options of o, and url without credentials.
func (o ConnOptions) options(url string) ([]nats.Option, string, error) {
	sec := o.Security
	url, err := sec.TakeURL(url)
	if err != nil {
		return nil, "", err
	}
	if err := sec.Check(); err != nil {
		return nil, "", err
	}
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
	if o.PingInterval > 0 {
		opts = append(opts, nats.PingInterval(o.PingInterval), nats.MaxPingsOutstanding(max(o.MaxPingsOut, 1)))
	}
	if o.Member != "" {
		opts = append(opts, nats.CustomInboxPrefix(security.InboxPrefix+"."+o.Member))
	}
	if sec.Token != "" {
		opts = append(opts, nats.Token(sec.Token))
	}
	if sec.Creds != "" {
		opts = append(opts, nats.UserCredentials(sec.Creds))
	}
	if sec.TLS.Enabled() {
		tc, err := sec.TLS.ClientConfig()
		if err != nil {
			return nil, "", err
		}
		opts = append(opts, nats.Secure(tc))
	}
	return opts, url, nil
}

// Connect dials url with o. Credentials written in url are used (see
// security.Config.TakeURL) and never shown.
func Connect(url string, o ConnOptions) (*nats.Conn, error) {
	opts, url, err := o.options(url)
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", url, err)
	}
	return nc, nil
}

// ConnectInProcess connects to an embedded server through memory (no
// socket, no TLS), authenticating with o like any other client.
func ConnectInProcess(s *server.Server, o ConnOptions) (*nats.Conn, error) {
	o.Security.TLS = security.TLS{}
	opts, _, err := o.options("")
	if err != nil {
		return nil, err
	}
	// A TLS server's URL is tls://, which would make the client insist.
	url := "nats://" + strings.TrimPrefix(strings.TrimPrefix(s.ClientURL(), "tls://"), "nats://")
	nc, err := nats.Connect(url, append(opts, nats.InProcessServer(s))...)
	if err != nil {
		return nil, fmt.Errorf("connect in process: %w", err)
	}
	return nc, nil
}
