package provision

import "time"

// FastRetries shortens backoff, Retry-After pauses, the probes of a closed
// window without Retry-After and the time a run keeps retrying throttles with
// nothing admitted, for the tests of this package, and
// returns a function restoring them.
func FastRetries() (restore func()) {
	b, c, m, s, f, w := backoffBase, backoffCap, maxRetryAfter, stallAfter, firstProbe, maxProbeWait
	backoffBase, backoffCap, maxRetryAfter, stallAfter = time.Millisecond, 5*time.Millisecond, 20*time.Millisecond, 3*time.Second
	firstProbe, maxProbeWait = time.Millisecond, 5*time.Millisecond
	return func() {
		backoffBase, backoffCap, maxRetryAfter, stallAfter, firstProbe, maxProbeWait = b, c, m, s, f, w
	}
}

// LegacyFingerprint is the spec marker of the releases before independent
// halves, for the migration tests.
var LegacyFingerprint = legacyFingerprint

// JournalFailAfter makes j's writes fail, as on a full disk, once k records
// have been written: the next record is torn, then every write fails.
func JournalFailAfter(j *Journal, k int) { j.failAfter = uint64(k) }

// ShortLagWaits shortens the waits for a lagging list (no clock slack, a
// poll every millisecond) for the tests of this package, and returns a
// function restoring them.
func ShortLagWaits() (restore func()) {
	c, p := createSlack, lagPoll
	createSlack, lagPoll = 0, time.Millisecond
	return func() { createSlack, lagPoll = c, p }
}
