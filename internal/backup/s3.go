package backup

import (
	"context"
	"fmt"
	"io"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// partSize bounds the memory of an upload: the snapshot's length is not
// known up front, so it goes up as a multipart upload of parts this big,
// one buffered at a time.
const partSize = 16 << 20

// S3Sink uploads the snapshot as one object. A multipart upload becomes an
// object only when it is completed; a failed one is aborted.
type S3Sink struct {
	Endpoint, Bucket, Key, Region string
	AccessKey, SecretKey          string
	PathStyle, Insecure           bool
}

func (s S3Sink) client() (*minio.Client, error) {
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
func (s S3Sink) Put(ctx context.Context, r io.Reader) (string, error) {
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
