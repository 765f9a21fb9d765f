package registry

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
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

// hostile are values a rogue member might write in a field that the
// dashboard shows: each breaks out of an HTML attribute or text, or out
// of a NATS subject.
var hostile = []string{
	`x" onmouseover="alert(1)" data-pwn="1`,
	`<img src=x onerror=alert(1)>`,
	`a b`,
	`a.*.>`,
	"\xff\xfe",
	strings.Repeat("a", 1025),
}

// A member entry is refused when any field it shows or a foreman uses is
// out of its set, character set or range; a good one passes.
func TestMemberCheck(t *testing.T) {
	good := func() Member {
		return Member{ID: "w-1", Role: RoleWorkman, Type: "word_count", Capacity: 4, Busy: 2, State: StateBusy,
			Endpoint: Endpoint{URL: "nats://127.0.0.1:4222,tls://[::1]:4223", Subject: "fi.w.w-1", Mode: ModeMesh},
			Host:     "host-1.example.org", PID: 42, For: []string{"f1"}, Done: 10, Failed: 1}
	}
	if m := good(); m.check() != nil {
		t.Fatalf("a good workman refused: %v", m.check())
	}
	if m := (Member{ID: "f1", Role: RoleForeman, State: StateWaiting, Jobs: []string{"019a-job"}}); m.check() != nil {
		t.Fatalf("a good foreman refused: %v", m.check())
	}
	if m := (Member{ID: "c1", Role: RoleContractor, Type: "sum", State: StateWaiting}); m.check() != nil {
		t.Fatalf("a good contractor refused: %v", m.check())
	}
	fields := map[string]func(m *Member, v string){
		"id":       func(m *Member, v string) { m.ID = v },
		"role":     func(m *Member, v string) { m.Role = v },
		"type":     func(m *Member, v string) { m.Type = v },
		"state":    func(m *Member, v string) { m.State = v },
		"host":     func(m *Member, v string) { m.Host = v },
		"url":      func(m *Member, v string) { m.Endpoint.URL = v },
		"subject":  func(m *Member, v string) { m.Endpoint.Subject = v },
		"mode":     func(m *Member, v string) { m.Endpoint.Mode = v },
		"for":      func(m *Member, v string) { m.For = []string{"f1", v} },
		"jobs":     func(m *Member, v string) { m.Jobs = []string{v} },
		"for+jobs": func(m *Member, v string) { m.For = make([]string, maxNamed+1) },
	}
	for name, set := range fields {
		for _, v := range hostile {
			if name == "url" && (v == "a.*.>" || len(v) <= maxEndpoint && !strings.ContainsAny(v, `"<> `) && v[0] < 0x80) {
				continue // a URL may hold these characters
			}
			m := good()
			set(&m, v)
			if err := m.check(); err == nil {
				t.Errorf("%s = %q accepted", name, v)
			}
		}
	}
	counts := []struct {
		name string
		set  func(m *Member)
	}{
		{"capacity 0", func(m *Member) { m.Capacity, m.Busy = 0, 0 }},
		{"capacity over the max", func(m *Member) { m.Capacity = MaxCapacity + 1 }},
		{"busy over capacity", func(m *Member) { m.Busy = 5 }},
		{"busy negative", func(m *Member) { m.Busy = -1 }},
		{"pid negative", func(m *Member) { m.PID = -1 }},
		{"done negative", func(m *Member) { m.Done = -1 }},
		{"failed over done", func(m *Member) { m.Failed = 11 }},
		{"a foreman with a capacity", func(m *Member) { m.Role, m.Type, m.Busy, m.Endpoint = RoleForeman, "", 0, Endpoint{} }},
	}
	for _, tt := range counts {
		m := good()
		tt.set(&m)
		if err := m.check(); err == nil {
			t.Errorf("%s accepted", tt.name)
		}
	}
}

// A job record is refused when a field is out of its set or bounds; the
// name and error are free text within their bounds, and Clip cuts to them
// on a character's boundary.
func TestJobCheck(t *testing.T) {
	good := func() Job {
		return Job{ID: "019a-job", Foreman: "f1", Name: hostile[0], Error: hostile[1], State: JobFailed, Host: "h", PID: 1, Done: 3, Rate: 1.5}
	}
	if j := good(); j.check() != nil {
		t.Fatalf("a good job refused: %v", j.check())
	}
	bad := []struct {
		name string
		set  func(j *Job)
	}{
		{"id", func(j *Job) { j.ID = hostile[0] }},
		{"foreman", func(j *Job) { j.Foreman = "a.*" }},
		{"state", func(j *Job) { j.State = hostile[0] }},
		{"state lost (readers decide it)", func(j *Job) { j.State = JobLost }},
		{"host", func(j *Job) { j.Host = hostile[1] }},
		{"name too long", func(j *Job) { j.Name = strings.Repeat("n", MaxJobName+1) }},
		{"error too long", func(j *Job) { j.Error = strings.Repeat("e", MaxJobError+1) }},
		{"done negative", func(j *Job) { j.Done = -1 }},
		{"bytes negative", func(j *Job) { j.BytesIn = -1 }},
		{"rate negative", func(j *Job) { j.Rate = -1 }},
	}
	for _, tt := range bad {
		j := good()
		tt.set(&j)
		if err := j.check(); err == nil {
			t.Errorf("%s accepted", tt.name)
		}
	}
	long := strings.Repeat("é", MaxJobName) // two bytes each
	c := Clip(long, MaxJobName)
	if len(c) > MaxJobName || !strings.HasSuffix(c, "…") || !utf8.ValidString(c) || !strings.HasPrefix(long, strings.TrimSuffix(c, "…")) {
		t.Fatalf("Clip = %q (%d bytes)", c, len(c))
	}
	if Clip("short", MaxJobName) != "short" {
		t.Fatal("Clip changed a short name")
	}
}
