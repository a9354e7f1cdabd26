// Command image builds a single-layer container image from files on this
// machine and writes it as a tarball that 'ctr images import' reads. It needs
// no container daemon and pulls nothing: the local cluster's images (pause,
// etcd, busybox, the operator) are made from binaries built here.
//
//	image --name gcr.io/etcd-development/etcd:v3.6.16 --out etcd.tar \
//	  --add /usr/local/bin/etcd=bin/etcd-v3.6.16/etcd --cmd /usr/local/bin/etcd
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// listFlag collects a repeated flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var spec imageSpec
	var out string
	flag.StringVar(&spec.name, "name", "", "image reference, e.g. registry.k8s.io/pause:3.10")
	flag.StringVar(&out, "out", "", "tarball to write")
	flag.Var(&spec.files, "add", "PATH_IN_IMAGE=LOCAL_FILE; repeatable")
	flag.Var(&spec.links, "link", "PATH_IN_IMAGE=TARGET symlink; repeatable")
	flag.Var(&spec.dirs, "dir", "empty directory (mode 1777) in the image; repeatable")
	flag.Var(&spec.cmd, "cmd", "command and arguments; repeatable, in order")
	flag.StringVar(&spec.user, "user", "", "user the image runs as, e.g. 65532:65532")
	flag.Parse()

	if err := build(spec, out); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func build(spec imageSpec, out string) error {
	if spec.name == "" || out == "" || len(spec.cmd) == 0 {
		return fmt.Errorf("--name, --out and --cmd are required")
	}
	ref, err := name.ParseReference(spec.name)
	if err != nil {
		return fmt.Errorf("parse image name %q: %w", spec.name, err)
	}
	// containerd matches images to the node's platform, so the config must
	// name it; an image without os/architecture is refused.
	base, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		OS:           "linux",
		Architecture: "amd64",
		Config: v1.Config{
			Cmd:  spec.cmd,
			User: spec.user,
			Env:  []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
		},
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return fmt.Errorf("set config: %w", err)
	}
	layerPath := out + ".layer"
	defer os.Remove(layerPath)
	layer, err := spec.layer(layerPath)
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return fmt.Errorf("add layer: %w", err)
	}
	if err := tarball.WriteToFile(out, ref, img); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	return nil
}
