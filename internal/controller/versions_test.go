package controller

import "testing"

func TestVersionArithmetic(t *testing.T) {
	less := []struct {
		a, b string
		want bool
	}{
		{"3.5.35", "3.6.0", true},
		{"3.6.9", "3.6.16", true}, // numerically, not as strings
		{"v3.6.16", "3.6.16", false},
		{"3.6.16-rc.0", "3.6.16", false}, // pre-release suffixes are ignored
		{"3.6", "3.6.0", false},
		{"3.7.0", "3.6.99", false},
	}
	for _, tt := range less {
		if got := versionLess(tt.a, tt.b); got != tt.want {
			t.Errorf("versionLess(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
	for v, want := range map[string]string{"3.6.16": "3.6", "v3.5.35": "3.5", "3.6": "3.6", "3.6.0-alpha.1": "3.6"} {
		if got := minorVersion(v); got != want {
			t.Errorf("minorVersion(%q) = %q, want %q", v, got, want)
		}
	}
}
