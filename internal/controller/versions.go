package controller

import (
	"fmt"

	utilversion "k8s.io/apimachinery/pkg/util/version"
)

// parseVersion reads an etcd version as etcd and the spec write it
// ("3.6.16", "v3.6.16", "3.6"); one that does not parse reads as 0.0.
func parseVersion(v string) *utilversion.Version {
	if parsed, err := utilversion.ParseGeneric(v); err == nil {
		return parsed
	}
	return utilversion.MajorMinor(0, 0)
}

// versionLess says whether version a comes before version b.
func versionLess(a, b string) bool { return parseVersion(a).LessThan(parseVersion(b)) }

// minorVersion is MAJOR.MINOR of a version.
func minorVersion(v string) string {
	p := parseVersion(v)
	return fmt.Sprintf("%d.%d", p.Major(), p.Minor())
}
