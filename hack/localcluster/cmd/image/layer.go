package main

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// imageSpec is what goes into the image.
type imageSpec struct {
	name  string
	files listFlag // PATH_IN_IMAGE=LOCAL_FILE
	links listFlag // PATH_IN_IMAGE=TARGET
	dirs  listFlag // PATH_IN_IMAGE
	cmd   listFlag
	user  string
}

// layer writes the image's one layer to the tar file at tarPath (binaries
// are tens of MB; nothing is held whole in memory) and returns it. The file
// is read again when the image is written, so the caller removes it after.
func (s imageSpec) layer(tarPath string) (v1.Layer, error) {
	f, err := os.Create(tarPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	if err := s.writeEntries(tw); err != nil {
		return nil, fmt.Errorf("write layer: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("write layer: %w", err)
	}
	return tarball.LayerFromFile(tarPath)
}

func (s imageSpec) writeEntries(tw *tar.Writer) error {
	dirs := map[string]bool{}
	addParents := func(p string) error {
		for _, d := range parents(p) {
			if dirs[d] {
				continue
			}
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755}); err != nil {
				return err
			}
		}
		return nil
	}
	for _, d := range s.dirs {
		d = strings.TrimPrefix(path.Clean(d), "/")
		if err := addParents(d); err != nil {
			return err
		}
		dirs[d] = true
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o1777}); err != nil {
			return err
		}
	}
	for _, pair := range s.files {
		dst, src, ok := strings.Cut(pair, "=")
		if !ok {
			return fmt.Errorf("--add %q: want PATH_IN_IMAGE=LOCAL_FILE", pair)
		}
		dst = strings.TrimPrefix(path.Clean(dst), "/")
		if err := addParents(dst); err != nil {
			return err
		}
		if err := addFile(tw, dst, src); err != nil {
			return err
		}
	}
	for _, pair := range s.links {
		dst, target, ok := strings.Cut(pair, "=")
		if !ok {
			return fmt.Errorf("--link %q: want PATH_IN_IMAGE=TARGET", pair)
		}
		dst = strings.TrimPrefix(path.Clean(dst), "/")
		if err := addParents(dst); err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: dst, Linkname: target, Mode: 0o777}); err != nil {
			return err
		}
	}
	return nil
}

func addFile(tw *tar.Writer, dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: dst, Mode: 0o755, Size: info.Size()}); err != nil {
		return err
	}
	_, err = io.Copy(tw, in)
	return err
}

// parents lists the directories above p, outermost first.
func parents(p string) []string {
	var out []string
	for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) < len(out[j]) })
	return out
}
