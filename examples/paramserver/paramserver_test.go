package paramserver

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/fourinone-go/fourinone/codec"
	"github.com/fourinone-go/fourinone/examples/internal/team"
	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/fourinone-go/fourinone/workman"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestTrainEqualsLocal: 2 parameter servers and 3 trainers, all of
// capacity 1 (each one's slot held by its task for the whole job, all
// messages going through Receive), reach bit for bit the weights of the
// same steps in one process, and those weights have learned.
func TestTrainEqualsLocal(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := Problem{Features: 13, Samples: 500, Seed: 5, Steps: 30, Rate: 0.5}
	want, err := Local(p, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	// Learned: far better than the zero weights' coin toss on unseen data.
	if acc := Accuracy(want, p.Data(-1)); acc < 0.85 {
		t.Fatalf("test accuracy %.3f after %d steps", acc, p.Steps)
	}
	// The workers named in the tasks, and found by type in the registry
	// (IndexOfType, ElseOfType, SelfIndex: the embedded park has only this
	// job's workers).
	for _, byType := range []bool{false, true} {
		got, err := Train(ctx, team.Options{Capacity: 1}, 2, 3, p, byType)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("by type %v: %d weights, want %d", byType, len(got), len(want))
		}
		for i := range got {
			if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
				t.Fatalf("by type %v: weight %d: %v on workers, %v in one process", byType, i, got[i], want[i])
			}
		}
	}
}

// TestBadInput: problems and messages out of bounds are refused.
func TestBadInput(t *testing.T) {
	if _, err := Local(Problem{Features: 1 << 21, Samples: 1, Steps: 1}, 1, 1); err == nil {
		t.Error("2^21 features: no error")
	}
	if _, err := Train(context.Background(), team.Options{}, 3, 1, Problem{Features: 2, Samples: 1, Steps: 1}, false); err == nil {
		t.Error("more servers than features: no error")
	}
	if _, err := NewPS().DoTask(context.Background(), warehouse.New()); err == nil {
		t.Error("an empty task: no error")
	}
	m := warehouse.New()
	m.SetBytes(codec.KeyValue, []byte{1, 2, 3})
	m.SetString(codec.KeyCodec, "compact")
	if err := NewTrainer().Receive(context.Background(), workman.Peer{}, m); err == nil {
		t.Error("bad bytes for a message: no error")
	}
	bad, err := codec.New(nil, Message{Job: "j", Step: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := NewTrainer().Receive(context.Background(), workman.Peer{}, bad); err == nil || !strings.Contains(err.Error(), "out of bounds") {
		t.Errorf("a message of step -1: %v", err)
	}
}
