package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// version and commit may be set at build time, and then win over the build
// information: -ldflags "-X main.version=v1.2.3 -X main.commit=abc123".
var (
	version = ""
	commit  = ""
)

// buildInfo is what hubprov says about its own build.
type buildInfo struct {
	Version  string // the module version (v1.2.3, a pseudo-version), or "dev"
	Commit   string // the VCS revision, or "unknown"
	Modified bool   // built from a working tree with uncommitted changes
	Go       string
}

// readBuildInfo reads the binary's build information: the module version
// that 'go install ...@v1.2.3' records, and the vcs.revision and
// vcs.modified that 'go build' stamps in a git checkout.
func readBuildInfo() buildInfo {
	info, _ := debug.ReadBuildInfo()
	return parseBuildInfo(info, version, commit)
}

// parseBuildInfo is readBuildInfo over info (nil when the binary has none),
// with the ldflags values, when set, overriding.
func parseBuildInfo(info *debug.BuildInfo, ldVersion, ldCommit string) buildInfo {
	b := buildInfo{Version: "dev", Commit: "unknown", Go: runtime.Version()}
	if info != nil {
		if v := info.Main.Version; v != "" && v != "(devel)" {
			b.Version = v
		}
		if info.GoVersion != "" {
			b.Go = info.GoVersion
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if ldVersion != "" {
		b.Version = ldVersion
	}
	if ldCommit != "" {
		b.Commit = ldCommit
	}
	return b
}

// hubprovVersion is the version reports and saved plans record.
func hubprovVersion() string {
	b := readBuildInfo()
	if b.Modified && !strings.HasSuffix(b.Version, "+dirty") {
		return b.Version + "+dirty"
	}
	return b.Version
}

func runVersion(_ context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet("version", "hubprov version", `Prints hubprov's version, the commit it was built from and the Go version, from the
binary's build information: 'go install github.com/hubprov/hubprov@v1.2.3' reports v1.2.3,
'go build' in a git checkout the commit (and "(modified)" with uncommitted changes).`, env)
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return unexpectedArg(fs.Arg(0), "")
	}
	b := readBuildInfo()
	modified := ""
	if b.Modified {
		modified = " (modified)"
	}
	fmt.Fprintf(env.stdout, "hubprov %s\ncommit %s%s\n%s %s/%s\n", b.Version, b.Commit, modified, b.Go, runtime.GOOS, runtime.GOARCH)
	return nil
}
