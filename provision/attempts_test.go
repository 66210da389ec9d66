package provision_test

import (
	"testing"

	"github.com/hubprov/hubprov/manifest"
	"github.com/hubprov/hubprov/provision"
	"github.com/hubprov/hubprov/provision/emulator"
)

// TestAttemptsCountTheChangeOnly: an account's attempts are the creates sent
// for it, never more than --max-attempts; the lookup that follows an unclear
// create (a 500, a reset, a lost response) and the --verify read are not
// attempts. (Reported: --max-attempts 1 recorded attempts 2 for a failed create.)
// Throttles are retried beyond --max-attempts (they are the platform asking
// to slow down), until the platform has admitted nothing for a while: then
// the account fails, with every create counted.
func TestAttemptsCountTheChangeOnly(t *testing.T) {
	for _, tc := range []struct {
		name        string
		faults      emulator.Faults
		maxAttempts int
		status      provision.Status
		more        bool // throttles: more attempts than maxAttempts
	}{
		{"500", emulator.Faults{Rate500: 1}, 1, provision.Failed, false},
		{"500x3", emulator.Faults{Rate500: 1}, 3, provision.Failed, false},
		{"reset", emulator.Faults{Reset: 1}, 1, provision.Failed, false},
		{"lost response, adopted", emulator.Faults{LostResponse: 1}, 1, provision.Succeeded, false},
		{"429", emulator.Faults{Rate429: 1}, 2, provision.Failed, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer provision.FastRetries()()
			defer provision.ShortLagWaits()()
			b := newBench(t, emulator.Options{OpFaults: map[emulator.Op]emulator.Faults{emulator.OpCreate: tc.faults}}, "demo-user")
			// An instance the list shows tells how far it lags: a create that
			// may have been made is believed absent once the list has caught up.
			b.emu.AddInstance(emulator.Seed{Name: "other", Element: manifest.ElementCRM, Tags: []string{"hubprov:set=s1"}})
			_, out := run(t, b, "s1", accounts(3), false, provision.Options{MaxAttempts: tc.maxAttempts, Verify: true})
			creates := b.emu.Stats().ByOp[emulator.OpCreate]
			sum := 0
			for _, r := range out.Results {
				if r.Status != tc.status {
					t.Errorf("%s: status %s, want %s (%+v)", r.Name, r.Status, tc.status, r.Error)
				}
				if r.Attempts != tc.maxAttempts && !(tc.more && r.Attempts > tc.maxAttempts) {
					t.Errorf("%s: attempts %d, want %d", r.Name, r.Attempts, tc.maxAttempts)
				}
				sum += r.Attempts
			}
			if sum != creates {
				t.Errorf("attempts add up to %d, the emulator saw %d creates", sum, creates)
			}
		})
	}
}
