package jobcenter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// Import copies the durable Works that from's job center keeps (a single
// park server's store, opened on its own) into to's (a cluster's), with
// their inputs and results, and queues again those that are not final.
// A Work or blob that to has already is left as it is, so an import run
// twice (after a crash midway) copies nothing twice. Works that are not
// durable are not copied: they were lost with the single server's restart
// anyway. It returns how many Works it copied.
func Import(ctx context.Context, from, to jetstream.JetStream) (int, error) {
	src, err := from.KeyValue(ctx, WorksBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return 0, nil // that park never had a job center
	}
	if err != nil {
		return 0, fmt.Errorf("jobcenter: import: %w", err)
	}
	dst, err := newStore(to.Conn())
	if err != nil {
		return 0, err
	}
	defer dst.close()
	if err := dst.bind(ctx); err != nil {
		return 0, fmt.Errorf("jobcenter: import: %w", err)
	}
	if err := importBlobs(ctx, from, dst.blobs); err != nil {
		return 0, err
	}
	keys, err := src.ListKeys(ctx)
	if err != nil {
		return 0, fmt.Errorf("jobcenter: import: %w", err)
	}
	n := 0
	for key := range keys.Keys() {
		e, err := src.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("jobcenter: import %s: %w", key, err)
		}
		if _, err := dst.works.Create(ctx, key, e.Value()); errors.Is(err, jetstream.ErrKeyExists) {
			continue
		} else if err != nil {
			return n, fmt.Errorf("jobcenter: import %s: %w", key, err)
		}
		if !strings.HasPrefix(key, "w.") {
			continue
		}
		n++
		var info Info
		if err := json.Unmarshal(e.Value(), &info); err != nil {
			return n, fmt.Errorf("jobcenter: import %s: malformed record: %w", key, err)
		}
		if !info.Status.Final() {
			// The record decides what the Work needs (a Work that was
			// running is taken over once its lease has run out).
			if err := dst.enqueue(ctx, &info, ""); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// importBlobs copies the objects of from's blob store that dst lacks.
func importBlobs(ctx context.Context, from jetstream.JetStream, dst jetstream.ObjectStore) error {
	src, err := from.ObjectStore(ctx, BlobStore)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("jobcenter: import blobs: %w", err)
	}
	infos, err := src.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("jobcenter: import blobs: %w", err)
	}
	for _, info := range infos {
		if _, err := dst.GetInfo(ctx, info.Name); err == nil {
			continue
		} else if !errors.Is(err, jetstream.ErrObjectNotFound) {
			return fmt.Errorf("jobcenter: import %s: %w", info.Name, err)
		}
		r, err := src.Get(ctx, info.Name)
		if err != nil {
			return fmt.Errorf("jobcenter: import %s: %w", info.Name, err)
		}
		_, err = dst.Put(ctx, jetstream.ObjectMeta{Name: info.Name}, r)
		r.Close()
		if err != nil {
			return fmt.Errorf("jobcenter: import %s: %w", info.Name, err)
		}
	}
	return nil
}
