// Package provision is hubprov's engine: it plans what to change by comparing a
// manifest with a platform's instances, applies the plan with bounded
// parallelism, rate control, retries and a crash-safe journal, and writes the
// report. Platform clients implement [Platform] in the subpackages.
package provision
