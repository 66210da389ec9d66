package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readmeBlocks returns the fenced code blocks of README.md with the given info string.
func readmeBlocks(t *testing.T, lang string) []string {
	t.Helper()
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	var cur []string
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case !in && line == "```"+lang:
			in, cur = true, nil
		case in && line == "```":
			in = false
			blocks = append(blocks, strings.Join(cur, "\n")+"\n")
		case in:
			cur = append(cur, line)
		}
	}
	return blocks
}

// TestReadmeManifestsValidate: every manifest shown in the README validates.
func TestReadmeManifestsValidate(t *testing.T) {
	n := 0
	for _, b := range readmeBlocks(t, "yaml") {
		if !strings.Contains(b, "version: 1") {
			continue
		}
		n++
		path := filepath.Join(t.TempDir(), "m.yaml")
		if err := os.WriteFile(path, []byte(b), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, out, errs := runCLI(t, "validate", "-f", path); code != exitOK {
			t.Errorf("README manifest %d: exit %d\n%s%s\n%s", n, code, out, errs, b)
		}
	}
	if n == 0 {
		t.Fatal("no manifest found in README.md")
	}
}

// TestReadmeCommands: every hubprov command line in the README's shell blocks
// names a real command and only flags it defines.
func TestReadmeCommands(t *testing.T) {
	n := 0
	for _, b := range readmeBlocks(t, "sh") {
		for _, sc := range shellCommands(b) {
			args := sc.hubprovArgs()
			if w := sc.words; args == nil && len(w) > 2 && w[0] == "go" && w[1] == "run" && w[2] == "." {
				args = w[3:]
			}
			if args == nil {
				continue
			}
			n++
			for _, p := range checkInvocation(args) {
				t.Errorf("README: hubprov %s: %s", strings.Join(args, " "), p)
			}
		}
	}
	if n < 10 {
		t.Fatalf("found only %d hubprov commands in README.md", n)
	}
}
