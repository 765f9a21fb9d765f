// Package streams holds what the registry, the job center and the park's
// coordination service do alike with JetStream streams.
package streams

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// IsConflict reports whether a write on an expected revision failed
// because the key changed since (or, for a create, exists). One server
// reports that as error code 10071, a replicated stream as 10164: the
// registry's claims and the job center's records took the latter for a
// failure instead of reading again.
func IsConflict(err error) bool {
	if err == nil {
		return false
	}
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) ||
		errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// LeaderReads makes a replicated stream answer reads from its leader only
// (no direct gets): any replica answers a direct get, and one that lags
// answers with an older record (nats-server issues #4162, #4710). The
// registry, the job center and the park read records to compare-and-set
// them, and a Status read after a Wait must not go back in time. One
// server's store is the truth: it keeps its direct gets.
func LeaderReads(ctx context.Context, js jetstream.JetStream, name string, replicas int) error {
	if replicas < 2 {
		return nil
	}
	st, err := js.Stream(ctx, name)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	cfg := st.CachedInfo().Config
	if !cfg.AllowDirect {
		return nil
	}
	cfg.AllowDirect = false
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("%s: read from the leader: %w", name, err)
	}
	return nil
}
