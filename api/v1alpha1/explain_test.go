package v1alpha1_test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// TestEveryFieldIsExplained walks the schema of every CRD in
// config/crd/bases and fails naming each property without a description:
// `kubectl explain` shows that text, and a field without it is a field a
// user has to guess at. The description comes from the Go doc comment of
// the field in this package (controller-gen copies it).
func TestEveryFieldIsExplained(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "config", "crd", "bases", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs in config/crd/bases (%v)", err)
	}
	var missing []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(data, &crd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, v := range crd.Spec.Versions {
			if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
				t.Fatalf("%s %s has no schema", crd.Name, v.Name)
			}
			root := v.Schema.OpenAPIV3Schema
			for _, top := range []string{"spec", "status"} {
				if _, ok := root.Properties[top]; !ok {
					t.Errorf("%s %s has no %s", crd.Name, v.Name, top)
				}
			}
			// metadata is left out: the API server publishes ObjectMeta's
			// own documented schema in its place.
			for name, prop := range root.Properties {
				if name == "metadata" {
					continue
				}
				missing = append(missing, undescribed(crd.Spec.Names.Kind+"."+name, prop)...)
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%d fields have no description for kubectl explain (add a doc comment to the Go field, then make manifests):\n  %s",
			len(missing), strings.Join(missing, "\n  "))
	}
}

// undescribed returns path if s has no description, and every property
// below s without one.
func undescribed(path string, s apiextensionsv1.JSONSchemaProps) []string {
	var out []string
	if strings.TrimSpace(s.Description) == "" {
		out = append(out, path)
	}
	for name, p := range s.Properties {
		out = append(out, undescribed(path+"."+name, p)...)
	}
	if s.Items != nil && s.Items.Schema != nil {
		out = append(out, undescribedBelow(path+"[]", *s.Items.Schema)...)
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		out = append(out, undescribedBelow(path+"{}", *s.AdditionalProperties.Schema)...)
	}
	return out
}

// undescribedBelow checks the properties of an array's items or a map's
// values; kubectl explain shows the array's or map's own description for
// the element itself.
func undescribedBelow(path string, s apiextensionsv1.JSONSchemaProps) []string {
	var out []string
	for name, p := range s.Properties {
		out = append(out, undescribed(path+"."+name, p)...)
	}
	if s.Items != nil && s.Items.Schema != nil {
		out = append(out, undescribedBelow(path+"[]", *s.Items.Schema)...)
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		out = append(out, undescribedBelow(path+"{}", *s.AdditionalProperties.Schema)...)
	}
	return out
}
