package factors

import (
	"context"
	"fmt"

	"github.com/fourinone-go/fourinone/examples/internal/team"
)

// Run factors [from, to) in tasks of step numbers on workers numbers of
// workers where o says.
func Run(ctx context.Context, o team.Options, workers int, from, to, step int64) ([]Number, error) {
	if from < 1 || to < from || step < 1 || step > MaxTask {
		return nil, fmt.Errorf("factors: the range [%d, %d) in steps of %d: want 1 <= from <= to, 1 <= step <= %d", from, to, step, MaxTask)
	}
	t, err := team.Open(ctx, o, team.Need{Type: Type, N: workers, Worker: Worker})
	if err != nil {
		return nil, fmt.Errorf("factors: %w", err)
	}
	defer t.Close()
	acc, err := t.Foreman.Run(ctx, t.Workers[Type], Splitter(from, to, step), Combiner(), t.RunOptions("factors")...)
	if err != nil {
		return nil, err
	}
	return Numbers(acc)
}
