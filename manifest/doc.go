// Package manifest loads hubprov manifests: it reads one or more YAML files and
// folders, validates them against the JSON Schema, maps every problem to its
// file:line:col, merges defaults, runs the domain checks and decodes the result
// into typed values. Secret values stay references until [Manifest.Resolve].
package manifest
