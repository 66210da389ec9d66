package provision

import "testing"

func TestFailureBudget(t *testing.T) {
	for _, c := range []struct {
		flag          string
		failed, total int
		want          bool
	}{
		{"", 1000, 1000, false},
		{"0", 0, 100, false},
		{"0", 1, 100, true}, // the first failure aborts
		{"5", 5, 100, false},
		{"5", 6, 100, true},
		{"0%", 1, 100, true},
		{"0%", 0, 100, false},
		{"10%", 10, 100, false},
		{"10%", 11, 100, true},
		{"100%", 100, 100, false},
		{"2.5%", 3, 100, true},
	} {
		b, err := ParseFailureBudget(c.flag)
		if err != nil {
			t.Fatalf("%q: %v", c.flag, err)
		}
		if got := b.exceeded(c.failed, c.total); got != c.want {
			t.Errorf("--max-failures %q with %d of %d failed: exceeded %v, want %v", c.flag, c.failed, c.total, got, c.want)
		}
	}
	for _, bad := range []string{"-1", "x", "101%", "-2%", "1.5"} {
		if _, err := ParseFailureBudget(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSelection(t *testing.T) {
	if _, err := NewSelection([]string{"a["}, ""); err == nil {
		t.Error("bad glob accepted")
	}
	for _, bad := range []string{"1", "2/2", "a/3", "0/0", "-1/2"} {
		if _, err := NewSelection(nil, bad); err == nil {
			t.Errorf("--shard %q accepted", bad)
		}
	}
	s, err := NewSelection([]string{"acme-*"}, "")
	if err != nil || !s.Owns("acme-crm") || s.Owns("wayne") {
		t.Errorf("glob selection: %v", err)
	}
	if !(Selection{}).Owns("anything") {
		t.Error("the zero selection owns nothing")
	}
	// The shards of 3 partition names: each name in exactly one.
	var shards [3]Selection
	for i := range shards {
		shards[i], _ = NewSelection(nil, string(rune('0'+i))+"/3")
	}
	for _, name := range []string{"a", "b", "c", "acme-crm", "portal-0001", "portal-0002"} {
		n := 0
		for _, s := range shards {
			if s.Owns(name) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s is in %d shards", name, n)
		}
	}
}
