package bench

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// The suite runs its roles as child processes of its own binary; under go
// test that binary is this test binary, so TestMain serves the roles.
func TestMain(m *testing.M) {
	if ok, err := RunRole(os.Args[1:]); ok {
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestSuiteSmall runs every measurement at a small size and checks that
// each produced its row: the suite works, whatever the timings.
func TestSuiteSmall(t *testing.T) {
	var out bytes.Buffer
	o := Options{Calls: 300, Tasks: 1000, Slots: 4, TextBytes: 1 << 20, SortRecords: 20_000, BigBytes: 4 << 20, Registry: 8, Claim: 4,
		RegistryLease: time.Second, Works: 80, WaitingWorks: 80}
	rows, err := Suite(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteTable(&out, rows); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"empty DoTask round trip, mesh, median", "empty DoTask round trip, hub, p99",
		"no-op tasks through Run, 2 workers x 4 slots (n=1000)", "1 KiB tasks echoed through Run, 2 workers x 4 slots (n=1000)", "4 MiB Warehouse through DoTask and back",
		"1 KiB record round trip, typed (Do) vs by hand", "1 KiB records, typed (Collect) vs by hand (Run), 2 workers x 4 slots (n=200)",
		"no-op tasks, typed (Map) vs untyped (Run), 2 workers x 4 slots (n=1000)",
		"distinct words, 2 workman processes, 32 MiB ranges", "over links of 50 ms +- 10 ms each way", "sort 2 MB (20000 records), 2 workman processes", "claim 4 of 8 registered workmen", "claim a workman of capacity 10000", "park server resident memory",
		"durable no-op Works, submit to done, 1 contractor, 2 workers (n=80)", "the least durable Work, no framework", "80 Works waiting",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no row %q in:\n%s", want, out.String())
		}
	}
}
