package main

import (
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// The pod stages carry the delays asked for, as kwok reads them: a lower
// bound of half the mean and an upper bound of one and a half.
func TestKwokStagesCarryThePodDelays(t *testing.T) {
	got := map[string][2]int64{}
	for _, doc := range strings.Split(kwokStages(2*time.Second, 800*time.Millisecond), "\n---\n") {
		var stage struct {
			Kind     string
			Metadata struct{ Name string }
			Spec     struct {
				Delay *struct{ DurationMilliseconds, JitterDurationMilliseconds int64 }
			}
		}
		if err := yaml.Unmarshal([]byte(doc), &stage); err != nil {
			t.Fatalf("a stage does not parse: %v\n%s", err, doc)
		}
		if stage.Kind == "Stage" && stage.Spec.Delay != nil {
			got[stage.Metadata.Name] = [2]int64{stage.Spec.Delay.DurationMilliseconds, stage.Spec.Delay.JitterDurationMilliseconds}
		}
	}
	want := map[string][2]int64{"pod-start": {1000, 3000}, "pod-ready": {400, 1200}}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("stage %s: delay %v ms, want %v", name, got[name], w)
		}
	}
}
