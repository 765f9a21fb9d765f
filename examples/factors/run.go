package factors

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/fourinone-go/fourinone/examples/internal/team"
	"github.com/fourinone-go/fourinone/foreman"
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
	out := make([]Number, 0, to-from)
	err = foreman.Map(ctx, t.Foreman, t.Workers[Type], Ranges(from, to, step), func(i int, ns []Number) error {
		out = append(out, ns...) // in the order tasks end
		return nil
	}, t.RunOptions("factors")...)
	slices.SortFunc(out, func(a, b Number) int { return cmp.Compare(a.N, b.N) })
	return out, err
}
