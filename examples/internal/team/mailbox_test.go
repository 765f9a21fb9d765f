package team

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestMailbox: parts that come before the task are kept, a part from a
// stranger or after a sender's last is refused, Wait returns once every
// other worker's last part is in, and later parts are refused.
func TestMailbox(t *testing.T) {
	m := NewMailbox[[]int](2)
	add := func(v int) func(*[]int) error { return func(p *[]int) error { *p = append(*p, v); return nil } }
	if err := m.Put("j", 2, false, add(20)); err != nil {
		t.Fatal(err)
	}
	if err := m.Put("j", 2, true, add(21)); err != nil {
		t.Fatal(err)
	}
	if err := m.Put("j", 2, true, add(22)); err == nil {
		t.Fatal("a part after the sender's last: no error")
	}
	if err := m.Open("j", 3, 1); err != nil {
		t.Fatal(err)
	}
	if err := m.Put("j", 1, true, add(10)); err == nil {
		t.Fatal("a part from the worker itself: no error")
	}
	if err := m.Put("j", 3, true, add(30)); err == nil {
		t.Fatal("a part from outside the team: no error")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if err := m.Wait(ctx, "j", func(*[]int) {}); err == nil {
		t.Fatal("Wait returned with worker 0 unheard")
	}
	if err := m.Put("j", 0, true, add(0)); err != nil {
		t.Fatal(err)
	}
	var got []int
	if err := m.Wait(context.Background(), "j", func(p *[]int) { got = *p }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0] != 20 || got[1] != 21 || got[2] != 0 {
		t.Fatalf("parts %v, want [20 21 0]", got)
	}
	if err := m.Put("j", 0, true, add(1)); err == nil {
		t.Fatal("a part after Wait took them: no error")
	}
	m.Close("j")
	// A stranger's parts before Open fail the Open; at most 2 jobs held.
	if err := m.Put("k", 5, true, add(5)); err != nil {
		t.Fatal(err)
	}
	if err := m.Open("k", 3, 0); err == nil {
		t.Fatal("Open after a part from outside the team: no error")
	}
	if err := m.Put("l", 0, true, add(0)); err != nil {
		t.Fatal(err)
	}
	if err := m.Put("m", 0, true, add(0)); err == nil {
		t.Fatal("parts of a third job: no error")
	}
}

// TestEach: every index but the skipped one runs, and the error of one
// that failed comes back once all have returned.
func TestEach(t *testing.T) {
	var mu sync.Mutex
	ran := map[int]bool{}
	err := Each(4, 2, func(i int) error {
		mu.Lock()
		ran[i] = true
		mu.Unlock()
		if i == 3 {
			return errors.New("three")
		}
		return nil
	})
	if err == nil || err.Error() != "three" || len(ran) != 3 || ran[2] {
		t.Fatalf("Each: %v, ran %v; want the error of 3 and 0, 1, 3 run", err, ran)
	}
	if err := Each(2, -1, func(int) error { return nil }); err != nil {
		t.Fatal(err)
	}
}
