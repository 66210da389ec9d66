package provision

import (
	"fmt"
	"strconv"
	"strings"
)

// FailureBudget is how many failed accounts a run tolerates before it aborts
// the rest (--max-failures): a count, or a percentage of the run's accounts.
// The zero value is no budget: the run never aborts for failures.
type FailureBudget struct {
	set     bool
	count   int     // when percent < 0
	percent float64 // 0 to 100; -1 when the budget is a count
}

// ParseFailureBudget reads "N" (more than N failures abort) or "P%" (more than
// P percent of the accounts); "" is no budget. "0" and "0%" abort at the first failure.
func ParseFailureBudget(v string) (FailureBudget, error) {
	if v == "" {
		return FailureBudget{}, nil
	}
	bad := fmt.Errorf("--max-failures %q: want a count N or a percentage P%%", v)
	if p, ok := strings.CutSuffix(v, "%"); ok {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || f < 0 || f > 100 {
			return FailureBudget{}, bad
		}
		return FailureBudget{set: true, percent: f}, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return FailureBudget{}, bad
	}
	return FailureBudgetOf(n), nil
}

// FailureBudgetOf is a budget of n failed accounts.
func FailureBudgetOf(n int) FailureBudget {
	return FailureBudget{set: true, count: n, percent: -1}
}

// exceeded reports whether failed accounts out of total are over the budget.
func (b FailureBudget) exceeded(failed, total int) bool {
	switch {
	case !b.set:
		return false
	case b.percent < 0:
		return failed > b.count
	default:
		return float64(failed)*100 > b.percent*float64(total)
	}
}
