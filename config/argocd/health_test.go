// Package argocd holds Argo CD health checks for Quorum's kinds: one Lua
// script per kind in Argo CD's own layout (<group>/<kind>/health.lua, with
// health_test.yaml and testdata/), and argocd-cm-patch.yaml, which adds them
// to Argo CD's argocd-cm ConfigMap. The Go code here only tests them.
package argocd

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite "+patchFile+" from the health.lua scripts")

const (
	patchFile = "argocd-cm-patch.yaml"
	// keyPrefix is how argocd-cm names a health check: the prefix, then
	// <group>_<kind>.
	keyPrefix = "resource.customizations.health."
)

// The health statuses Argo CD accepts from a script; any other is Unknown.
var argoStatuses = []string{"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}

// healthTests is Argo CD's health_test.yaml.
type healthTests struct {
	Tests []struct {
		HealthStatus struct {
			Status  string `json:"status"`
			Message string `json:"message"`
		} `json:"healthStatus"`
		InputPath string `json:"inputPath"`
	} `json:"tests"`
}

// kinds are the API's kinds, each of which must have a health check.
func kinds(t *testing.T) []string {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := etcdv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	api := reflect.TypeFor[etcdv1alpha1.EtcdCluster]().PkgPath()
	var out []string
	for kind, typ := range scheme.KnownTypes(etcdv1alpha1.GroupVersion) {
		// The scheme also holds meta/v1's options and WatchEvent.
		if typ.PkgPath() == api && !strings.HasSuffix(kind, "List") {
			out = append(out, kind)
		}
	}
	slices.Sort(out)
	return out
}

func scriptPath(kind string) string {
	return filepath.Join(etcdv1alpha1.GroupVersion.Group, kind, "health.lua")
}

func TestHealthChecks(t *testing.T) {
	for _, kind := range kinds(t) {
		t.Run(kind, func(t *testing.T) {
			dir := filepath.Join(etcdv1alpha1.GroupVersion.Group, kind)
			script, err := os.ReadFile(scriptPath(kind))
			if err != nil {
				t.Fatalf("every kind needs a health check: %v", err)
			}
			data, err := os.ReadFile(filepath.Join(dir, "health_test.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			var tests healthTests
			if err := yaml.UnmarshalStrict(data, &tests); err != nil {
				t.Fatal(err)
			}
			if len(tests.Tests) == 0 {
				t.Fatal("health_test.yaml has no tests")
			}
			for _, tc := range tests.Tests {
				t.Run(strings.TrimSuffix(filepath.Base(tc.InputPath), ".yaml"), func(t *testing.T) {
					obj := fixture(t, filepath.Join(dir, tc.InputPath))
					if obj.GetKind() != kind || obj.GroupVersionKind().Group != etcdv1alpha1.GroupVersion.Group {
						t.Fatalf("%s holds a %s, not a %s", tc.InputPath, obj.GroupVersionKind(), kind)
					}
					status, message := runHealth(t, string(script), obj)
					if !slices.Contains(argoStatuses, status) {
						t.Errorf("status %q is not one Argo CD knows (%v)", status, argoStatuses)
					}
					if status != tc.HealthStatus.Status || message != tc.HealthStatus.Message {
						t.Errorf("health is %s %q, want %s %q", status, message, tc.HealthStatus.Status, tc.HealthStatus.Message)
					}
				})
			}
		})
	}
}

// fixture reads an object as Argo CD holds it: unstructured, with integers
// as int64.
func fixture(t *testing.T, path string) *unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(js); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return obj
}

// runHealth runs a health script as Argo CD runs one from argocd-cm: a
// fresh state with only the package, base and table libraries (the string
// and os libraries are not opened unless useOpenLibs is set), a second to
// finish, the object as the global obj; the script returns a table with
// status and message.
func runHealth(t *testing.T, script string, obj *unstructured.Unstructured) (status, message string) {
	t.Helper()
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for name, open := range map[string]lua.LGFunction{
		lua.LoadLibName: lua.OpenPackage,
		lua.BaseLibName: lua.OpenBase,
		lua.TabLibName:  lua.OpenTable,
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(open), Protect: true}, lua.LString(name)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj.Object))
	if err := l.DoString(script); err != nil {
		t.Fatalf("the script failed: %v", err)
	}
	ret, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("the script returned %s, not a table", l.Get(-1).Type())
	}
	field := func(name string) string {
		v := ret.RawGetString(name)
		s, ok := v.(lua.LString)
		if !ok {
			t.Fatalf("the returned %s is %s, not a string", name, v.Type())
		}
		return string(s)
	}
	return field("status"), field("message")
}

// toLua converts an unstructured value the way Argo CD does: numbers to
// Lua numbers, maps to tables, slices to arrays, anything else to nil.
func toLua(l *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case int64:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	case []any:
		arr := l.CreateTable(len(v), 0)
		for _, item := range v {
			arr.Append(toLua(l, item))
		}
		return arr
	case map[string]any:
		tbl := l.CreateTable(0, len(v))
		for k, item := range v {
			tbl.RawSetString(k, toLua(l, item))
		}
		return tbl
	default:
		return lua.LNil
	}
}

// TestConfigMapPatch checks that argocd-cm-patch.yaml holds exactly the
// health.lua scripts, under the keys argocd-cm expects. With -update it
// rewrites the file.
func TestConfigMapPatch(t *testing.T) {
	want := renderPatch(t)
	if *update {
		if err := os.WriteFile(patchFile, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(patchFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("%s is not what the health.lua scripts make: run 'go test ./config/argocd -update'", patchFile)
	}

	// The file is a ConfigMap patch whose values are the scripts.
	var cm struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Metadata   map[string]string `json:"metadata"`
		Data       map[string]string `json:"data"`
	}
	if err := yaml.UnmarshalStrict(got, &cm); err != nil {
		t.Fatal(err)
	}
	if cm.APIVersion != "v1" || cm.Kind != "ConfigMap" || cm.Metadata["name"] != "argocd-cm" {
		t.Fatalf("%s is not a patch of the ConfigMap argocd-cm: %s %s %v", patchFile, cm.APIVersion, cm.Kind, cm.Metadata)
	}
	for _, kind := range kinds(t) {
		key := keyPrefix + etcdv1alpha1.GroupVersion.Group + "_" + kind
		script, err := os.ReadFile(scriptPath(kind))
		if err != nil {
			t.Fatal(err)
		}
		if cm.Data[key] != string(script) {
			t.Errorf("data[%s] is not %s", key, scriptPath(kind))
		}
		delete(cm.Data, key)
	}
	if len(cm.Data) != 0 {
		t.Errorf("data has keys of no kind: %v", cm.Data)
	}
}

func renderPatch(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(`# Quorum's health checks for Argo CD, as a patch of its argocd-cm ConfigMap.
# Generated from etcd.quorum.dev/<kind>/health.lua by
# 'go test ./config/argocd -update'; edit the scripts, not this file.
#
#   kubectl -n argocd patch configmap argocd-cm --patch-file argocd-cm-patch.yaml
#
# or list it under 'patches:' in the kustomization that installs Argo CD.
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
data:
`)
	for _, kind := range kinds(t) {
		script, err := os.ReadFile(scriptPath(kind))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(string(script), "\n") || strings.HasSuffix(string(script), "\n\n") {
			t.Fatalf("%s must end with exactly one newline (a YAML block scalar keeps one)", scriptPath(kind))
		}
		fmt.Fprintf(&b, "  %s%s_%s: |\n", keyPrefix, etcdv1alpha1.GroupVersion.Group, kind)
		for line := range strings.Lines(string(script)) {
			if line == "\n" {
				b.WriteString(line)
				continue
			}
			b.WriteString("    " + line)
		}
	}
	return b.String()
}
