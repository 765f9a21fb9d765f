package jobcenter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fourinone-go/fourinone/internal/streams"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// What the park server keeps for the job center, on JetStream.
const (
	// WorksBucket holds durable Works: a record per Work ("w.<id>"), and
	// inputs ("i.<id>") and results ("r.<id>.<attempt>") up to inlineMax
	// bytes, in file storage.
	WorksBucket = "fourinone_works"
	// MemWorksBucket holds the same for Works that are not durable, in
	// memory storage: a park restart loses them.
	MemWorksBucket = "fourinone_works_mem"
	// BlobStore holds inputs and results bigger than inlineMax (an object
	// store, chunked, file storage).
	BlobStore = "fourinone_blobs"
	// QueueStream is the work queue: one message per Work to run, its ID,
	// on subject queuePrefix + type; each Work type has one pull consumer
	// that its contractors share.
	QueueStream = "FOURINONE_QUEUE"
	queuePrefix = "fourinone.queue."
)

// Where inputs and results are kept: up to inRecord bytes in the Work's
// record, up to inlineMax in an entry of their own, bigger ones in the
// object store (NATS messages are at most 8 MiB here).
const (
	inRecord  = 64 << 10
	inlineMax = 1 << 20
)

// Setup creates (or updates) the job center's streams and buckets, kept by
// replicas servers of a cluster (0 is 1); the park server calls it at
// start.
func Setup(ctx context.Context, js jetstream.JetStream, replicas int) error {
	replicas = max(replicas, 1)
	memory := jetstream.MemoryStorage
	if replicas > 1 {
		// Replicas in memory cannot recover from losing most of them at
		// once (each restarts empty): in a cluster, Works that are not
		// durable are kept on disk too (they are kept more than promised).
		memory = jetstream.FileStorage
	}
	for _, b := range []struct {
		name    string
		storage jetstream.StorageType
	}{{WorksBucket, jetstream.FileStorage}, {MemWorksBucket, memory}} {
		if _, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: b.name, Description: "fourinone job center: Works, inputs, results",
			History: 1, Storage: b.storage, Replicas: replicas,
		}); err != nil {
			return fmt.Errorf("jobcenter: create bucket %s: %w", b.name, err)
		}
		if err := streams.LeaderReads(ctx, js, "KV_"+b.name, replicas); err != nil {
			return fmt.Errorf("jobcenter: %w", err)
		}
	}
	if _, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket: BlobStore, Description: "fourinone job center: big inputs and results", Storage: jetstream.FileStorage,
		Replicas: replicas,
	}); err != nil {
		return fmt.Errorf("jobcenter: create object store: %w", err)
	}
	if err := streams.LeaderReads(ctx, js, "OBJ_"+BlobStore, replicas); err != nil {
		return fmt.Errorf("jobcenter: %w", err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: QueueStream, Description: "fourinone job center: Works to run, by type",
		Subjects: []string{queuePrefix + ">"}, Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage,
		Replicas: replicas,
	}); err != nil {
		return fmt.Errorf("jobcenter: create queue: %w", err)
	}
	return nil
}

// Status is where a Work is.
type Status string

// Statuses. Done, Failed and Cancelled are final.
const (
	Waiting   Status = "waiting"
	Running   Status = "running"
	Done      Status = "done"
	Failed    Status = "failed"
	Cancelled Status = "cancelled"
)

// Final reports whether s is a final status.
func (s Status) Final() bool { return s == Done || s == Failed || s == Cancelled }

// Progress is how far a running Work's job is: tasks combined of the tasks
// split so far (Total grows until the Splitter is done).
type Progress struct {
	Done  int64 `json:"done"`
	Total int64 `json:"total"`
}

// Info is a Work's record: what it is and where it stands.
type Info struct {
	ID          string    `json:"id"`
	Type        string    `json:"type"`
	Durable     bool      `json:"durable"`
	Status      Status    `json:"status"`
	Attempts    int       `json:"attempts"`
	MaxAttempts int       `json:"max_attempts"`
	Errors      []string  `json:"errors,omitempty"` // the error of each failed attempt, in order
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
	Started     time.Time `json:"started,omitzero"`  // the last attempt's start
	Finished    time.Time `json:"finished,omitzero"` // when it reached a final status
	NotBefore   time.Time `json:"not_before,omitzero"`
	Contractor  string    `json:"contractor,omitempty"` // who runs (or ran) the last attempt
	// Notify is where the submitter's client waits for the Work's final
	// record: each write of a final record is sent to Notify + "." + ID
	// once stored (a core NATS message, lost if nobody listens).
	Notify     string    `json:"notify,omitempty"`
	LeaseUntil time.Time `json:"lease_until,omitzero"` // the running contractor's lease
	Progress   Progress  `json:"progress"`
	Next       *Spec     `json:"next,omitempty"`    // the chain's next Work, run with this one's result
	NextID     string    `json:"next_id,omitempty"` // the next Work, once submitted
	After      []string  `json:"after,omitempty"`   // the Works whose results it waits for
	Priority   int       `json:"priority,omitempty"`
	Input      string    `json:"input,omitempty"` // where the input is (a blob reference), if not in InputData
	InputData  []byte    `json:"input_data,omitempty"`
	Result     string    `json:"result,omitempty"` // where the result is, if not in ResultData
	ResultData []byte    `json:"result_data,omitempty"`
}

// LastError returns the error of the last failed attempt, if any.
func (i *Info) LastError() string {
	if len(i.Errors) == 0 {
		return ""
	}
	return i.Errors[len(i.Errors)-1]
}

// Spec is a Work without its input: the next step of a chain.
type Spec struct {
	Type        string `json:"type"`
	ID          string `json:"id,omitempty"`
	Durable     bool   `json:"durable"`
	MaxAttempts int    `json:"max_attempts,omitempty"`
	Next        *Spec  `json:"next,omitempty"`
}

var (
	// ErrNotFound is returned for an ID that names no Work (never
	// submitted, past its retention, or not durable and lost with a park
	// restart).
	ErrNotFound = errors.New("jobcenter: no such work")
	// ErrCancelled is what Wait returns for a cancelled Work.
	ErrCancelled = errors.New("jobcenter: work cancelled")
	// ErrNoContractor is what DoWork returns when no contractor for the
	// Work's type is registered.
	ErrNoContractor = errors.New("jobcenter: no contractor for the work type is registered")
	// ErrFinal is what Cancel returns for a Work that is done or failed.
	ErrFinal = errors.New("jobcenter: the work has finished")
)

// WorkError is what Wait returns for a Work (or a chain's step) that
// failed: its ID, type and the error of each attempt.
type WorkError struct {
	ID     string
	Type   string
	Errors []string
}

func (e *WorkError) Error() string {
	last := "no attempt"
	if len(e.Errors) > 0 {
		last = e.Errors[len(e.Errors)-1]
	}
	return fmt.Sprintf("jobcenter: work %s (%s) failed after %d attempts: %s", e.ID, e.Type, len(e.Errors), last)
}

var (
	validType = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	validID   = regexp.MustCompile(`^[A-Za-z0-9_=-]{1,128}$`)
)

// store is the job center's JetStream resources, as a client sees them.
type store struct {
	nc    *nats.Conn
	js    jetstream.JetStream
	works jetstream.KeyValue // durable
	mem   jetstream.KeyValue // not durable
	blobs jetstream.ObjectStore
	queue jetstream.Stream

	// Writes and reads go out in batches (see batcher); reads in batches
	// only where the park answers direct gets (one server: see
	// streams.LeaderReads).
	pubs   batcher[*nats.Msg, *jetstream.PubAck]
	reads  batcher[string, record]
	direct bool

	amu     sync.Mutex // guards the fields below: where batched reads are answered
	asub    *nats.Subscription
	aprefix string
	aseq    uint64
	answers map[string]chan *nats.Msg
}

// openStore binds to the resources a park server created, waiting for them
// until ctx ends (members may start before the park server).
func openStore(ctx context.Context, nc *nats.Conn) (*store, error) {
	s, err := newStore(nc)
	if err != nil {
		return nil, err
	}
	for {
		err = s.bind(ctx)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, jetstream.ErrBucketNotFound) && !errors.Is(err, jetstream.ErrStreamNotFound) &&
			!errors.Is(err, jetstream.ErrJetStreamNotEnabled) && !errors.Is(err, nats.ErrTimeout) {
			return nil, fmt.Errorf("jobcenter: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("jobcenter: the park server has no job center (%v): %w", err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func newStore(nc *nats.Conn) (*store, error) {
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(batchTimeout))
	if err != nil {
		return nil, fmt.Errorf("jobcenter: %w", err)
	}
	s := &store{nc: nc, js: js}
	s.pubs = batcher[*nats.Msg, *jetstream.PubAck]{max: batchMax, run: s.publish}
	s.reads = batcher[string, record]{max: batchMax, run: s.read}
	return s, nil
}

func (s *store) bind(ctx context.Context) (err error) {
	if s.works, err = s.js.KeyValue(ctx, WorksBucket); err != nil {
		return err
	}
	if s.mem, err = s.js.KeyValue(ctx, MemWorksBucket); err != nil {
		return err
	}
	if s.blobs, err = s.js.ObjectStore(ctx, BlobStore); err != nil {
		return err
	}
	st, err := s.js.Stream(ctx, "KV_"+WorksBucket)
	if err != nil {
		return err
	}
	s.direct = st.CachedInfo().Config.AllowDirect
	s.queue, err = s.js.Stream(ctx, QueueStream)
	return err
}

func (s *store) bucket(durable bool) jetstream.KeyValue {
	if durable {
		return s.works
	}
	return s.mem
}

// get reads a Work's record from either bucket, with its revision and
// bucket, in a batch with other reads at the same time.
func (s *store) get(ctx context.Context, id string) (*Info, uint64, jetstream.KeyValue, error) {
	if !validID.MatchString(id) { // nor a subject with wildcards
		return nil, 0, nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if !s.direct {
		return s.getOne(ctx, id)
	}
	r, err := s.reads.do(ctx, id)
	if r.info != nil {
		// Reads of one Work in one batch share its record: each caller gets
		// its own, to change.
		info := *r.info
		info.Errors, info.After = slices.Clone(info.Errors), slices.Clone(info.After)
		r.info = &info
	}
	return r.info, r.rev, r.kv, err
}

// getOne is get on its own.
func (s *store) getOne(ctx context.Context, id string) (*Info, uint64, jetstream.KeyValue, error) {
	for _, kv := range []jetstream.KeyValue{s.works, s.mem} {
		e, err := getEntry(ctx, kv, "w."+id)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, 0, nil, fmt.Errorf("jobcenter: read work %s: %w", id, err)
		}
		var info Info
		if err := json.Unmarshal(e.Value(), &info); err != nil {
			return nil, 0, nil, fmt.Errorf("jobcenter: work %s: malformed record: %w", id, err)
		}
		return &info, e.Revision(), kv, nil
	}
	return nil, 0, nil, fmt.Errorf("%w: %s", ErrNotFound, id)
}

// readTimeout bounds one read: a request or its reply lost while a server
// of a cluster fails is sent again, not waited for until ctx ends (a
// Wait's may be hours away).
const readTimeout = 5 * time.Second

// getEntry reads key from kv, trying again while ctx lasts when a try
// times out or the cluster says it is unavailable for now (503, while it
// fails over: a Wait's read of a result failed with it).
func getEntry(ctx context.Context, kv jetstream.KeyValue, key string) (jetstream.KeyValueEntry, error) {
	for {
		rctx, cancel := context.WithTimeout(ctx, readTimeout)
		e, err := kv.Get(rctx, key)
		timedOut := rctx.Err() != nil
		cancel()
		var apiErr *jetstream.APIError
		unavailable := errors.As(err, &apiErr) && apiErr.Code == 503
		if err == nil || !timedOut && !unavailable || ctx.Err() != nil {
			return e, err
		}
		if unavailable {
			select { // the cluster elects a leader meanwhile
			case <-ctx.Done():
				return e, err
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// update writes a Work's record by compare-and-set from rev, returning the
// new revision. It fails (a conflict: see streams.IsConflict) if the record changed
// since rev. A final record is sent to the Work's submitter too (see
// Info.Notify).
func (s *store) update(ctx context.Context, kv jetstream.KeyValue, info *Info, rev uint64) (uint64, error) {
	info.Updated = time.Now().UTC()
	b, err := json.Marshal(info)
	if err != nil {
		return 0, err
	}
	rev, err = s.put(ctx, kv, "w."+info.ID, b, rev)
	if err == nil && info.Status.Final() && info.Notify != "" {
		_ = s.nc.Publish(info.Notify+"."+info.ID, b) // lost if nobody listens: waiters read again in a while
	}
	return rev, err
}

// modify reads a Work's record and applies change by compare-and-set until
// it holds; change returns false to leave the record as it is.
func (s *store) modify(ctx context.Context, id string, change func(*Info) (bool, error)) (*Info, error) {
	for {
		info, rev, kv, err := s.get(ctx, id)
		if err != nil {
			return nil, err
		}
		ok, err := change(info)
		if err != nil || !ok {
			return info, err
		}
		if _, err := s.update(ctx, kv, info, rev); err == nil {
			return info, nil
		} else if !streams.IsConflict(err) {
			return nil, fmt.Errorf("jobcenter: update work %s: %w", id, err)
		}
	}
}

// putBlob stores data under key: in the record (it returns data back) if
// small, in kv if not big, else in the object store. It returns the
// reference to read it back with.
func (s *store) putBlob(ctx context.Context, kv jetstream.KeyValue, key string, data []byte) (string, []byte, error) {
	if len(data) <= inRecord {
		return "", data, nil
	}
	ref, err := s.putBig(ctx, kv, key, data)
	return ref, nil, err
}

func (s *store) putBig(ctx context.Context, kv jetstream.KeyValue, key string, data []byte) (string, error) {
	if len(data) <= inlineMax {
		if _, err := kv.Put(ctx, key, data); err != nil {
			return "", fmt.Errorf("jobcenter: store %s: %w", key, err)
		}
		return "kv:" + kv.Bucket() + ":" + key, nil
	}
	if _, err := s.blobs.PutBytes(ctx, key, data); err != nil {
		return "", fmt.Errorf("jobcenter: store %s: %w", key, err)
	}
	return "obj:" + key, nil
}

// blobTries is how many times getBlob tries a read of an object that
// times out.
const blobTries = 3

// getBlob reads what putBlob stored.
func (s *store) getBlob(ctx context.Context, ref string, inRecord []byte) ([]byte, error) {
	if ref == "" {
		return inRecord, nil
	}
	switch kind, rest, _ := strings.Cut(ref, ":"); kind {
	case "kv":
		bucket, key, _ := strings.Cut(rest, ":")
		kv := s.mem
		if bucket == WorksBucket {
			kv = s.works
		}
		e, err := getEntry(ctx, kv, key)
		if err != nil {
			return nil, fmt.Errorf("jobcenter: read %s: %w", key, err)
		}
		return e.Value(), nil
	case "obj":
		// A request of the read that times out (a busy or failing-over
		// server) is tried again, a few times, before the attempt fails.
		for try := 1; ; try++ {
			b, err := s.blobs.GetBytes(ctx, rest)
			if err == nil {
				return b, nil
			}
			if try == blobTries || ctx.Err() != nil || !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
				return nil, fmt.Errorf("jobcenter: read %s: %w", rest, err)
			}
		}
	}
	return nil, fmt.Errorf("jobcenter: malformed blob reference %q", ref)
}

// queueSubject is where the Works of a type wait: ".high" for those with
// a priority, taken first.
func queueSubject(typ string, priority int) string {
	if priority > 0 {
		return queuePrefix + typ + ".high"
	}
	return queuePrefix + typ + ".normal"
}

// QueueType returns the Work type whose queue subject is subject (a
// queue consumer's filter), if it is one.
func QueueType(subject string) (string, bool) {
	rest, ok := strings.CutPrefix(subject, queuePrefix)
	if i := strings.LastIndexByte(rest, '.'); ok && i > 0 {
		return rest[:i], true
	}
	return "", false
}

// enqueue asks a contractor to run a Work; msgID, if set, dedupes within
// the stream's window (2 minutes). A first submission sets none: the
// server would keep each ID in memory for the window, and a Work queued
// twice is harmless (its record decides; see Contractor).
func (s *store) enqueue(ctx context.Context, info *Info, msgID string) error {
	m := queueMsg(info)
	if msgID != "" {
		m.Header = nats.Header{jetstream.MsgIDHeader: []string{msgID}}
	}
	if _, err := s.pubs.do(ctx, m); err != nil {
		return fmt.Errorf("jobcenter: queue work %s: %w", info.ID, err)
	}
	return nil
}

// queueMsg is the queue message of a Work: its ID.
func queueMsg(info *Info) *nats.Msg {
	return &nats.Msg{Subject: queueSubject(info.Type, info.Priority), Data: []byte(info.ID)}
}

// watch calls changed whenever Work id's record is written, with the
// record as stored after the write (nil if it was deleted or does not
// decode), until stop. A write reaches subscribers before the stream
// stores it, and a compare-and-set write may be refused after, so the
// notification itself is only a hint: see settle.
func (s *store) watch(id string, changed func(*Info)) (stop func(), err error) {
	var subs []*nats.Subscription
	stop = func() {
		for _, sub := range subs {
			_ = sub.Unsubscribe()
		}
	}
	for _, b := range []string{WorksBucket, MemWorksBucket} {
		sub, err := s.nc.Subscribe("$KV."+b+".w."+id, func(m *nats.Msg) {
			var info Info
			if m.Header.Get("KV-Operation") != "" || json.Unmarshal(m.Data, &info) != nil {
				changed(nil)
				return
			}
			if stored := s.settle(&info); stored != nil {
				changed(stored)
			}
		})
		if err != nil {
			stop()
			return nil, err
		}
		subs = append(subs, sub)
	}
	// The server knows of the subscriptions once this returns: a change
	// made after it is seen.
	if err := s.nc.Flush(); err != nil {
		stop()
		return nil, err
	}
	return stop, nil
}

// settleTries is how many times settle reads a record (1 ms apart at
// first, doubling: 31 ms in all) before it takes the stored one as it is.
const settleTries = 6

// settle reads the stored record after a notified write until it shows
// that write or a later one (or the write was refused: then the record as
// stored), or nil if it cannot be read.
func (s *store) settle(notified *Info) *Info {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var stored *Info
	for i := range settleTries {
		if i > 0 {
			time.Sleep(time.Millisecond << (i - 1)) // the write is on its way to the disk
		}
		info, _, _, err := s.get(ctx, notified.ID)
		if err == nil {
			stored = info
			if !info.Updated.Before(notified.Updated) {
				return info
			}
		}
	}
	return stored
}

// DefaultRetention is how long a final Work (done, failed or cancelled) is
// kept, with its input and result, if the park is not told otherwise.
const DefaultRetention = 24 * time.Hour

// Clean deletes the Works that reached a final status more than retention
// ago, with their inputs and results, and returns how many it deleted. The
// park server runs it every minute. It reads the records in batches: its
// memory does not grow with the number of Works kept.
func Clean(ctx context.Context, js jetstream.JetStream, retention time.Duration) (int, error) {
	s, err := newStore(js.Conn())
	if err != nil {
		return 0, err
	}
	defer s.close()
	if err := s.bind(ctx); err != nil {
		return 0, fmt.Errorf("jobcenter: %w", err)
	}
	cutoff := time.Now().Add(-retention)
	n := 0
	for _, kv := range []jetstream.KeyValue{s.works, s.mem} {
		err := s.scan(ctx, kv, func(info *Info) error {
			if !info.Status.Final() || !info.Finished.Before(cutoff) {
				return nil
			}
			if err := s.remove(ctx, kv, info); err != nil {
				return err
			}
			n++
			return nil
		})
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// scanBatch is how many records scan reads at a time.
const scanBatch = 256

// scan calls each with every record in kv (as it stood when the scan
// began, or later), reading them in batches.
func (s *store) scan(ctx context.Context, kv jetstream.KeyValue, each func(*Info) error) error {
	cons, err := s.js.CreateConsumer(ctx, "KV_"+kv.Bucket(), jetstream.ConsumerConfig{
		FilterSubject: "$KV." + kv.Bucket() + ".w.*", DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy,
		AckPolicy: jetstream.AckNonePolicy, InactiveThreshold: time.Minute, MemoryStorage: true,
	})
	if err != nil {
		return fmt.Errorf("jobcenter: read works: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = s.js.DeleteConsumer(dctx, "KV_"+kv.Bucket(), cons.CachedInfo().Name)
	}()
	pending := cons.CachedInfo().NumPending
	for pending > 0 {
		// No more than are pending: a fetch waits until its batch is full.
		batch, err := cons.Fetch(int(min(scanBatch, pending)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return fmt.Errorf("jobcenter: read works: %w", err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			if md, err := m.Metadata(); err == nil {
				pending = md.NumPending
			}
			var info Info
			if m.Headers().Get("KV-Operation") != "" || json.Unmarshal(m.Data(), &info) != nil {
				continue
			}
			if err := each(&info); err != nil {
				return err
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("jobcenter: read works: %w", err)
		}
		if got == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			return errors.New("jobcenter: read works: the park sent none of the records it has")
		}
	}
	return nil
}

// records returns the records in kv that keep selects.
func (s *store) records(ctx context.Context, kv jetstream.KeyValue, keep func(*Info) bool) ([]*Info, error) {
	var out []*Info
	err := s.scan(ctx, kv, func(info *Info) error {
		if keep(info) {
			out = append(out, info)
		}
		return nil
	})
	return out, err
}

// remove deletes a Work's record, input and results (of every attempt).
func (s *store) remove(ctx context.Context, kv jetstream.KeyValue, info *Info) error {
	refs := []string{info.Input, info.Result}
	for a := 1; a <= info.Attempts; a++ {
		key := fmt.Sprintf("r.%s.%d", info.ID, a)
		refs = append(refs, "kv:"+kv.Bucket()+":"+key, "obj:"+key)
	}
	refs = append(refs, "obj:i."+info.ID)
	for _, ref := range refs {
		kind, rest, _ := strings.Cut(ref, ":")
		var err error
		switch kind {
		case "kv":
			_, key, _ := strings.Cut(rest, ":")
			err = kv.Purge(ctx, key)
		case "obj":
			if err = s.blobs.Delete(ctx, rest); errors.Is(err, jetstream.ErrObjectNotFound) {
				err = nil
			}
		}
		if err != nil {
			return fmt.Errorf("jobcenter: delete %s: %w", ref, err)
		}
	}
	if err := kv.Purge(ctx, "w."+info.ID); err != nil {
		return fmt.Errorf("jobcenter: delete work %s: %w", info.ID, err)
	}
	return nil
}
