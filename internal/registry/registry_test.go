package registry

import (
	"strings"
	"testing"
	"time"
)

func TestAlive(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		updated time.Time
		want    bool
	}{
		{"just now", now, true},
		{"within lease", now.Add(-2999 * time.Millisecond), true},
		{"at the lease", now.Add(-3 * time.Second), false},
		{"long gone", now.Add(-time.Hour), false},
		{"clock skew ahead", now.Add(time.Second), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Alive(tt.updated, now, 3*time.Second); got != tt.want {
				t.Fatalf("Alive = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSortMembers(t *testing.T) {
	t0 := time.Unix(100, 0)
	ms := []Member{{ID: "c", Started: t0.Add(time.Second)}, {ID: "b", Started: t0}, {ID: "a", Started: t0}}
	sortMembers(ms)
	if ms[0].ID != "a" || ms[1].ID != "b" || ms[2].ID != "c" {
		t.Fatalf("order = %s %s %s, want a b c", ms[0].ID, ms[1].ID, ms[2].ID)
	}
}

// A running job not written for JobLostAfter is lost; a finished one stays.
func TestJobSettle(t *testing.T) {
	now := time.Now()
	fresh := Job{State: JobRunning, Updated: now.Add(-JobLostAfter + time.Second)}
	stale := Job{State: JobRunning, Foreman: "f1", Updated: now.Add(-JobLostAfter - time.Second)}
	ended := Job{State: JobDone, Updated: now.Add(-time.Hour)}
	for _, j := range []*Job{&fresh, &stale, &ended} {
		j.Settle(now)
	}
	if fresh.State != JobRunning || stale.State != JobLost || ended.State != JobDone || !strings.Contains(stale.Error, "f1 stopped writing") {
		t.Fatalf("settled: %+v %+v %+v", fresh, stale, ended)
	}
}
