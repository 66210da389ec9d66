package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestParseBuildInfo(t *testing.T) {
	installed := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/hubprov/hubprov", Version: "v1.2.3"}}
	checkout := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "0123456789abcdef"}, {Key: "vcs.modified", Value: "true"},
	}}
	for _, c := range []struct {
		name     string
		info     *debug.BuildInfo
		ldV, ldC string
		want     buildInfo
	}{
		{"go install @v1.2.3", installed, "", "", buildInfo{Version: "v1.2.3", Commit: "unknown", Go: "go1.26.8"}},
		{"go build in a dirty checkout", checkout, "", "", buildInfo{Version: "dev", Commit: "0123456789abcdef", Modified: true, Go: "go1.26.8"}},
		{"ldflags win", checkout, "v9.9.9", "cafe", buildInfo{Version: "v9.9.9", Commit: "cafe", Modified: true, Go: "go1.26.8"}},
	} {
		got := parseBuildInfo(c.info, c.ldV, c.ldC)
		if got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
	if got := parseBuildInfo(nil, "", ""); got.Version != "dev" || got.Commit != "unknown" {
		t.Errorf("no build info: %+v", got)
	}
}

// TestVersionFromAGitCheckout clones this repository, builds hubprov in the
// clone with VCS stamping on, and finds the clone's commit in 'hubprov version'.
func TestVersionFromAGitCheckout(t *testing.T) {
	if testing.Short() {
		t.Skip("clones and builds")
	}
	gitTool, err := exec.LookPath("git")
	if err != nil {
		t.Skip("no git")
	}
	head, err := exec.Command(gitTool, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	rev := strings.TrimSpace(string(head))
	dir := filepath.Join(t.TempDir(), "hubprov")
	top, _ := exec.Command(gitTool, "rev-parse", "--show-toplevel").Output()
	for _, args := range [][]string{
		{"clone", "--quiet", "--no-checkout", strings.TrimSpace(string(top)), dir},
		{"-C", dir, "checkout", "--quiet", rev},
	} {
		if out, err := exec.Command(gitTool, args...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	bin := filepath.Join(t.TempDir(), "hubprov")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "commit "+rev+"\n") {
		t.Errorf("'hubprov version' in a checkout of %s:\n%s", rev, out)
	}
}
