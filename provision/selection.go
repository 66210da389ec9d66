package provision

import (
	"fmt"
	"hash/fnv"
	"path"
	"strconv"
	"strings"
)

// Selection is which accounts and instances one run manages: those whose name
// matches one of its globs (all when there are none) and falls in its shard.
// The zero value selects everything.
type Selection struct {
	globs    []string
	shard, n uint64
}

// NewSelection checks the --select globs (path.Match syntax) and the --shard
// "i/n" ("" for none) and returns the selection they make.
func NewSelection(globs []string, shard string) (Selection, error) {
	s := Selection{globs: globs, n: 1}
	for _, g := range globs {
		if _, err := path.Match(g, ""); err != nil {
			return s, fmt.Errorf("--select %q: %w", g, err)
		}
	}
	if shard != "" {
		i, n, ok := strings.Cut(shard, "/")
		iv, err1 := strconv.ParseUint(i, 10, 32)
		nv, err2 := strconv.ParseUint(n, 10, 32)
		if !ok || err1 != nil || err2 != nil || nv == 0 || iv >= nv {
			return s, fmt.Errorf("--shard %q: want i/n with 0 <= i < n, for example 0/4", shard)
		}
		s.shard, s.n = iv, nv
	}
	return s, nil
}

// Owns reports whether the run manages the account or instance named name.
func (s Selection) Owns(name string) bool {
	if s.n > 1 && ShardOf(name, s.n) != s.shard {
		return false
	}
	if len(s.globs) == 0 {
		return true
	}
	for _, g := range s.globs {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}

// ShardOf is the stable shard of a name among n: FNV-1a, modulo n. It never
// changes between versions, so n parallel jobs partition the accounts.
func ShardOf(name string, n uint64) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64() % n
}
