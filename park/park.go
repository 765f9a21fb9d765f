// Package park is the park as a coordination service: Fourinone's
// ParkLocal (nodes in domains, watches, ephemeral nodes, locks, leader
// election, configuration) on the park server's JetStream. See
// docs/coordination.md.
//
// A node is a value under a domain and a name, both any UTF-8 string. It
// is kept in one KV bucket, under "n.<domain>.<node>" (names encoded: see
// names.go), with its last revisions (see history). An ephemeral node
// carries a per-message TTL (the client's lease) and its client writes it
// again every third of the lease: if the client dies, the node is gone
// within a lease, and watchers see it go (deletions leave markers for a
// while). A change whose content equals the node's previous content (such
// a renewal) is not an event.
package park

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fourinone-go/fourinone/internal/streams"
	"github.com/nats-io/nats.go/jetstream"
)

// Bucket is the KV bucket that holds the nodes.
const Bucket = "fourinone_park"

// history is how many revisions of a node the bucket keeps: a watcher
// that resumes from a revision (after a park restart, say) sees each
// change since, up to this many per node. An ephemeral node keeps one:
// its writes roll up the older revisions (see Client.put), because the
// server (2.15.2) let an older revision's TTL run out into a delete
// marker for the node (a lock's waiter lost its place in line with
// older revisions kept).
const history = 64

// DefaultLease is how long an ephemeral node outlives its client's last
// renewal, if the client is not told otherwise.
const DefaultLease = 3 * time.Second

// markerTTL is how long the bucket keeps the marker of an expired node,
// for watchers to see it go. It is short because the server (2.15.2)
// removes an expired message only when a marker would be due: with a
// minute here, an ephemeral node outlived its lease by a minute. A
// watcher that resumes from a revision more than this after a node
// expired does not see that node go.
const markerTTL = time.Second

// Setup creates (or updates) the nodes' bucket, kept by replicas servers
// (0 is 1): on disk, with delete markers for expired nodes; the park
// server calls it at start.
func Setup(ctx context.Context, js jetstream.JetStream, replicas int) error {
	_, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: Bucket, Description: "fourinone park: coordination nodes, locks, elections",
		History: history, Storage: jetstream.FileStorage, Replicas: max(replicas, 1),
		LimitMarkerTTL: markerTTL,
	})
	if err != nil {
		return fmt.Errorf("park: create bucket: %w", err)
	}
	if err := streams.LeaderReads(ctx, js, "KV_"+Bucket, replicas); err != nil {
		return fmt.Errorf("park: %w", err)
	}
	return nil
}

var (
	// ErrExists is what Create returns for a node that exists.
	ErrExists = errors.New("park: node exists")
	// ErrNotFound is returned for a node that does not exist.
	ErrNotFound = errors.New("park: no such node")
	// ErrChanged is what a write on a revision returns when the node has
	// changed since that revision.
	ErrChanged = errors.New("park: the node changed since the revision given")
	// ErrClosed is returned by a closed Client.
	ErrClosed = errors.New("park: client closed")
)

// Node is a node as read.
type Node struct {
	Domain    string
	Name      string
	Value     []byte
	Revision  uint64    // the bucket's sequence of the write: it only grows
	Written   time.Time // when the revision was written
	Ephemeral bool      // it goes with its client's lease
}

// key returns a node's key, or a domain's key prefix if node is "".
func key(domain, node string) (string, error) {
	d, err := encodeName(domain)
	if err != nil {
		return "", err
	}
	if node == "" {
		return "n." + d + ".", nil
	}
	n, err := encodeName(node)
	if err != nil {
		return "", err
	}
	return "n." + d + "." + n, nil
}

// DomainSubject returns the subject of a domain's nodes, for a credential
// that may write only some domains (see security.ParkWrites).
func DomainSubject(domain string) (string, error) {
	k, err := key(domain, "")
	if err != nil {
		return "", err
	}
	return "$KV." + Bucket + "." + k + "*", nil
}

// parseKey returns the names of a node's key.
func parseKey(k string) (domain, node string, err error) {
	rest, ok := strings.CutPrefix(k, "n.")
	d, n, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 {
		return "", "", fmt.Errorf("%w: key %q", ErrName, k)
	}
	if domain, err = decodeName(d); err != nil {
		return "", "", err
	}
	node, err = decodeName(n)
	return domain, node, err
}

// The first byte of a stored value says whether the node is ephemeral
// (its content follows).
const (
	flagPersistent byte = 'p'
	flagEphemeral  byte = 'e'
)

func encodeValue(ephemeral bool, value []byte) []byte {
	b := make([]byte, 0, 1+len(value))
	if ephemeral {
		b = append(b, flagEphemeral)
	} else {
		b = append(b, flagPersistent)
	}
	return append(b, value...)
}

// nodeOf decodes an entry of the bucket.
func nodeOf(k string, data []byte, rev uint64, written time.Time) (*Node, error) {
	domain, name, err := parseKey(k)
	if err != nil {
		return nil, err
	}
	if len(data) == 0 || data[0] != flagPersistent && data[0] != flagEphemeral {
		return nil, fmt.Errorf("park: node %q: malformed value", k)
	}
	return &Node{Domain: domain, Name: name, Value: data[1:], Revision: rev, Written: written, Ephemeral: data[0] == flagEphemeral}, nil
}
