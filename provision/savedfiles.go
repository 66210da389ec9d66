package provision

import (
	"crypto/sha256"
	"fmt"

	"github.com/hubprov/hubprov/internal/safefile"
	"github.com/hubprov/hubprov/manifest"
)

// ChangedManifests checks, offline, the manifest files the saved plan was made
// from: one line per file that is gone, unreadable, or changed since (its
// sha256 differs). None means the plan's manifests are as they were.
func (sp SavedPlan) ChangedManifests() []string {
	var changed []string
	for _, m := range sp.Manifests {
		data, err := safefile.ReadFile(m.Path, manifest.MaxFileSize)
		switch {
		case err != nil:
			changed = append(changed, fmt.Sprintf("%s: %v", m.Path, err))
		case fmt.Sprintf("%x", sha256.Sum256(data)) != m.SHA256:
			changed = append(changed, m.Path+": changed since the plan (sha256 differs)")
		}
	}
	return changed
}

// Selection is the --select and --shard the plan was made with.
func (sp SavedPlan) Selection() (Selection, error) {
	return NewSelection(sp.Select, sp.Shard)
}
