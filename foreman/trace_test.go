package foreman_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/fourinone-go/fourinone/foreman"
	"github.com/fourinone-go/fourinone/internal/tracing/tracingtest"
	"github.com/fourinone-go/fourinone/parkserver/parktest"
	"github.com/fourinone-go/fourinone/splitter"
	"github.com/fourinone-go/fourinone/workman"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// TestTraceTree: a traced job of 3 tasks, one retried after an exception
// and one calling a peer, makes exactly this tree of spans, across the
// foreman and both workers (in this process, as they would across
// processes: the context goes in the tasks' message headers).
func TestTraceTree(t *testing.T) {
	sr := tracingtest.Record(t)

	w := &rangeSum{}
	w.hook = func(ctx context.Context, lo int64, attempt int) error {
		switch {
		case lo == 10 && attempt == 1:
			return errors.New("flaky")
		case lo == 0:
			peers, err := workman.MeshFrom(ctx).Else(ctx)
			if err != nil || len(peers) != 1 {
				return fmt.Errorf("peers %v, %v", peers, err)
			}
			return peers[0].Receive(ctx, nil)
		}
		return nil
	}
	c := parktest.Start(t, 2, workman.Config{Type: "sum", Capacity: 1}, w)
	f := parktest.NewForeman(t, c.URL, foreman.Config{})
	ws := parktest.Claim(t, f, "sum", 2)
	got, err := f.Run(context.Background(), ws, splitter.IntRange(0, 30, 10), sumAll, foreman.Retries(1), foreman.JobName("traced"))
	if err != nil {
		t.Fatal(err)
	}
	checkSum(t, got, 30, 10)
	spans := sr.Ended()
	for _, s := range spans {
		if s.SpanContext().TraceID() != spans[0].SpanContext().TraceID() {
			t.Fatalf("spans of two traces: %s and %s", s.SpanContext().TraceID(), spans[0].SpanContext().TraceID())
		}
	}
	// Each span with the task's number and attempt for a task, and
	// "error" for an error status.
	paths := tracingtest.Paths(spans, func(s sdktrace.ReadOnlySpan) string {
		l := s.Name()
		for _, a := range s.Attributes() {
			switch a.Key {
			case "fourinone.task", "fourinone.attempt":
				l += " " + a.Value.Emit()
			}
		}
		if s.Status().Code == codes.Error {
			l += " error"
		}
		return l
	})
	want := []string{
		"job traced",
		"job traced > task 0 first",
		"job traced > task 0 first > DoTask",
		"job traced > task 0 first > DoTask > Peer.Receive",
		"job traced > task 0 first > DoTask > Peer.Receive > Receive",
		"job traced > task 1 first error",
		"job traced > task 1 first error > DoTask error",
		"job traced > task 1 retry",
		"job traced > task 1 retry > DoTask",
		"job traced > task 2 first",
		"job traced > task 2 first > DoTask",
	}
	if !slices.Equal(paths, want) {
		t.Fatalf("spans:\n%s\nwant:\n%s", strings.Join(paths, "\n"), strings.Join(want, "\n"))
	}
}
