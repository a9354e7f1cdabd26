package backup

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// partSize bounds the memory of an upload: the snapshot's length is not
// known up front, so it goes up as a multipart upload of parts this big,
// one buffered at a time.
const partSize = 16 << 20

// S3Object is a snapshot's object in an S3-compatible store. Put uploads it
// as a multipart upload, which becomes an object only when it is completed
// (a failed one is aborted); Open reads it back for a restore.
type S3Object struct {
	Endpoint, Bucket, Key, Region string
	AccessKey, SecretKey          string
	PathStyle, Insecure           bool
}

// S3Flags registers the flags that name an object, shared by the backup
// and restore commands.
func S3Flags(fs *flag.FlagSet) *S3Object {
	var s S3Object
	fs.StringVar(&s.Endpoint, "s3-endpoint", "", "S3 endpoint host[:port]")
	fs.StringVar(&s.Bucket, "s3-bucket", "", "bucket")
	fs.StringVar(&s.Key, "s3-key", "", "object key")
	fs.StringVar(&s.Region, "s3-region", "", "region (optional)")
	fs.BoolVar(&s.PathStyle, "s3-path-style", false, "path-style bucket addressing")
	fs.BoolVar(&s.Insecure, "s3-insecure", false, "plain HTTP")
	return &s
}

// Given says whether the flags named an object.
func (s S3Object) Given() bool { return s.Endpoint != "" && s.Bucket != "" && s.Key != "" }

// WithEnvCredentials takes the keys from the environment, where the pod's
// secretKeyRef put them.
func (s S3Object) WithEnvCredentials() S3Object {
	s.AccessKey, s.SecretKey = os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	return s
}

func (s S3Object) client() (*minio.Client, error) {
	lookup := minio.BucketLookupAuto
	if s.PathStyle {
		lookup = minio.BucketLookupPath
	}
	return minio.New(s.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Secure:       !s.Insecure,
		Region:       s.Region,
		BucketLookup: lookup,
	})
}

// Put uploads r.
func (s S3Object) Put(ctx context.Context, r io.Reader) (string, error) {
	cli, err := s.client()
	if err != nil {
		return "", &PermanentError{fmt.Errorf("s3 client for %s: %w", s.Endpoint, err)}
	}
	location := fmt.Sprintf("s3://%s/%s", s.Bucket, s.Key)
	_, err = cli.PutObject(ctx, s.Bucket, s.Key, r, -1, minio.PutObjectOptions{
		PartSize:    partSize,
		ContentType: "application/octet-stream",
	})
	if err != nil {
		code := minio.ToErrorResponse(err).Code
		err = fmt.Errorf("upload %s to %s: %w", location, s.Endpoint, err)
		if permanentS3Codes[code] {
			return "", &PermanentError{err}
		}
		return "", err
	}
	return location, nil
}

// permanentS3Codes are answers a retry does not change.
var permanentS3Codes = map[string]bool{
	"NoSuchBucket": true, "AccessDenied": true, "InvalidAccessKeyId": true,
	"SignatureDoesNotMatch": true, "InvalidBucketName": true, "AllAccessDisabled": true,
}

// Open streams the object; the caller closes it.
func (s S3Object) Open(ctx context.Context) (io.ReadCloser, error) {
	cli, err := s.client()
	if err != nil {
		return nil, fmt.Errorf("s3 client for %s: %w", s.Endpoint, err)
	}
	obj, err := cli.GetObject(ctx, s.Bucket, s.Key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("read s3://%s/%s from %s: %w", s.Bucket, s.Key, s.Endpoint, err)
	}
	// GetObject is lazy: ask for the object's size now, so a missing
	// object is reported as such rather than as a short read.
	if _, err := obj.Stat(); err != nil {
		obj.Close()
		return nil, fmt.Errorf("read s3://%s/%s from %s: %w", s.Bucket, s.Key, s.Endpoint, err)
	}
	return obj, nil
}

// Delete removes the object.
func (s S3Object) Delete(ctx context.Context) (string, error) {
	cli, err := s.client()
	if err != nil {
		return "", &PermanentError{fmt.Errorf("s3 client for %s: %w", s.Endpoint, err)}
	}
	location := fmt.Sprintf("s3://%s/%s", s.Bucket, s.Key)
	if err := cli.RemoveObject(ctx, s.Bucket, s.Key, minio.RemoveObjectOptions{}); err != nil {
		code := minio.ToErrorResponse(err).Code
		err = fmt.Errorf("delete %s from %s: %w", location, s.Endpoint, err)
		if permanentS3Codes[code] {
			return "", &PermanentError{err}
		}
		return "", err
	}
	return location, nil
}
