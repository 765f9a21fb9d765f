package jobcenter_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fourinone-go/fourinone/internal/tracing/tracingtest"
	"github.com/fourinone-go/fourinone/jobcenter"
	"github.com/fourinone-go/fourinone/parkserver"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// TestWorkTrace: a Work's trace runs from its submission through its
// contractor to its job, its tasks and the workers' DoTask.
func TestWorkTrace(t *testing.T) {
	sr := tracingtest.Record(t)
	c := startCenter(t, parkserver.Config{})
	contractor(t, c.url, jobcenter.ContractorConfig{})
	id, err := c.client.Submit(context.Background(), jobcenter.Work{Type: "sum", Input: input(20), Durable: true})
	if err != nil {
		t.Fatal(err)
	}
	out, err := wait(t, c.client, id)
	checkSum(t, out, err, sumTo(20))
	// The contractor ends the Work's span once it has written the result
	// its client waited for.
	deadline := time.Now().Add(10 * time.Second)
	for len(sr.Ended()) < 7 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	paths := tracingtest.Paths(sr.Ended(), sdktrace.ReadOnlySpan.Name)
	job := "submit work > work sum > job work sum " + id
	want := []string{"submit work", "submit work > work sum", job,
		job + " > task", job + " > task", job + " > task > DoTask", job + " > task > DoTask"}
	if !slices.Equal(paths, want) {
		t.Fatalf("spans:\n%s\nwant:\n%s", strings.Join(paths, "\n"), strings.Join(want, "\n"))
	}
}
