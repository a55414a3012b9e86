// The AWS SDK for Go v2 as a client of the pachs3 battery (tests/clients/test_client_go.py).
//
// A thin driver with the protocol of drivers/js/driver.mjs: it knows no expected values. It reads
// one JSON request per line on stdin, {"id", "op", "args"}, performs that one S3 operation with
// the SDK, and prints one result line, {"id", "ok": true, "value"} or {"id", "ok": false,
// "error": {name, status, message}}. Bytes travel base64-encoded; big files by path.
//
//	driver '{"endpoint": "http://127.0.0.1:PORT", "ca_file": ""}'
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

const MiB = 1 << 20

type request struct {
	ID   int             `json:"id"`
	Op   string          `json:"op"`
	Args json.RawMessage `json:"args"`
}

// args holds every argument any operation takes; each uses the ones it needs.
type args struct {
	Bucket    string            `json:"bucket"`
	Key       string            `json:"key"`
	Prefix    string            `json:"prefix"`
	Data      string            `json:"data"`
	Path      string            `json:"path"`
	Start     int64             `json:"start"`
	End       int64             `json:"end"`
	Keys      []string          `json:"keys"`
	SrcBucket string            `json:"src_bucket"`
	SrcKey    string            `json:"src_key"`
	DstBucket string            `json:"dst_bucket"`
	DstKey    string            `json:"dst_key"`
	Metadata  map[string]string `json:"metadata"`
	Checksums map[string]string `json:"checksums"`
}

type failure struct {
	Name    string `json:"name"`
	Status  int    `json:"status,omitempty"`
	Message string `json:"message"`
}

type driver struct {
	ctx     context.Context
	client  *s3.Client
	presign *s3.PresignClient
	http    *http.Client
}

func newDriver(endpoint, caFile string) (*driver, error) {
	httpClient := awshttp.NewBuildableClient()
	plain := &http.Client{}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		httpClient = httpClient.WithTransportOptions(func(t *http.Transport) {
			t.TLSClientConfig = &tls.Config{RootCAs: pool}
		})
		plain.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	}
	client := s3.New(s3.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(endpoint),
		UsePathStyle:     true,
		Credentials:      credentials.NewStaticCredentialsProvider("any-key", "any-secret", ""),
		HTTPClient:       httpClient,
		RetryMaxAttempts: 2,
	})
	return &driver{context.Background(), client, s3.NewPresignClient(client), plain}, nil
}

func decode(text string) ([]byte, error) { return base64.StdEncoding.DecodeString(text) }
func encode(data []byte) string          { return base64.StdEncoding.EncodeToString(data) }

// copySource is x-amz-copy-source: "bucket/key" with the key URL-encoded segment by segment.
func copySource(bucket, key string) string {
	segments := strings.Split(key, "/")
	for i, s := range segments {
		segments[i] = url.PathEscape(s)
	}
	return bucket + "/" + strings.Join(segments, "/")
}

func (d *driver) list(bucket, prefix string, delimiter *string) (map[string][]string, error) {
	keys, prefixes := []string{}, []string{}
	pages := s3.NewListObjectsV2Paginator(d.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(bucket), Prefix: aws.String(prefix), Delimiter: delimiter,
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(d.ctx)
		if err != nil {
			return nil, err
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
		for _, p := range page.CommonPrefixes {
			prefixes = append(prefixes, aws.ToString(p.Prefix))
		}
	}
	return map[string][]string{"keys": keys, "prefixes": prefixes}, nil
}

func (d *driver) get(bucket, key string, rangeHeader *string) (string, error) {
	got, err := d.client.GetObject(d.ctx, &s3.GetObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Range: rangeHeader,
	})
	if err != nil {
		return "", err
	}
	defer got.Body.Close()
	data, err := io.ReadAll(got.Body)
	return encode(data), err
}

func (d *driver) run(op string, a args) (any, error) {
	ctx := d.ctx
	switch op {
	case "list_buckets":
		listed, err := d.client.ListBuckets(ctx, &s3.ListBucketsInput{})
		if err != nil {
			return nil, err
		}
		names := []string{}
		for _, b := range listed.Buckets {
			names = append(names, aws.ToString(b.Name))
		}
		return names, nil
	case "list_keys":
		listed, err := d.list(a.Bucket, a.Prefix, nil)
		if err != nil {
			return nil, err
		}
		return listed["keys"], nil
	case "list_dir":
		return d.list(a.Bucket, a.Prefix, aws.String("/"))
	case "put_small", "put_if_absent":
		data, err := decode(a.Data)
		if err != nil {
			return nil, err
		}
		input := &s3.PutObjectInput{Bucket: aws.String(a.Bucket), Key: aws.String(a.Key), Body: bytes.NewReader(data)}
		if op == "put_if_absent" {
			input.IfNoneMatch = aws.String("*")
		}
		put, err := d.client.PutObject(ctx, input)
		if err != nil {
			return nil, err
		}
		return map[string]string{"etag": aws.ToString(put.ETag)}, nil
	case "put_large":
		// manager.Uploader: 5 MiB parts, 4 at a time, from the open file.
		f, err := os.Open(a.Path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		uploader := manager.NewUploader(d.client, func(u *manager.Uploader) {
			u.PartSize = 5 * MiB
			u.Concurrency = 4
		})
		done, err := uploader.Upload(ctx, &s3.PutObjectInput{Bucket: aws.String(a.Bucket), Key: aws.String(a.Key), Body: f})
		if err != nil {
			return nil, err
		}
		return map[string]string{"etag": aws.ToString(done.ETag)}, nil
	case "get":
		return d.get(a.Bucket, a.Key, nil)
	case "get_range":
		return d.get(a.Bucket, a.Key, aws.String(fmt.Sprintf("bytes=%d-%d", a.Start, a.End)))
	case "download":
		// manager.Downloader: ranged GETs of 5 MiB, 4 at a time, written at their offsets.
		f, err := os.Create(a.Path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		downloader := manager.NewDownloader(d.client, func(dl *manager.Downloader) {
			dl.PartSize = 5 * MiB
			dl.Concurrency = 4
		})
		n, err := downloader.Download(ctx, f, &s3.GetObjectInput{Bucket: aws.String(a.Bucket), Key: aws.String(a.Key)})
		return n, err
	case "size", "head":
		head, err := d.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(a.Bucket), Key: aws.String(a.Key)})
		if err != nil {
			return nil, err
		}
		if op == "size" {
			return aws.ToInt64(head.ContentLength), nil
		}
		return map[string]any{"size": aws.ToInt64(head.ContentLength), "etag": aws.ToString(head.ETag), "metadata": head.Metadata}, nil
	case "copy":
		_, err := d.client.CopyObject(ctx, &s3.CopyObjectInput{
			Bucket: aws.String(a.DstBucket), Key: aws.String(a.DstKey), CopySource: aws.String(copySource(a.SrcBucket, a.SrcKey)),
		})
		return nil, err
	case "create_bucket":
		_, err := d.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(a.Bucket)})
		return nil, err
	case "delete_bucket":
		_, err := d.client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(a.Bucket)})
		return nil, err
	case "delete":
		_, err := d.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(a.Bucket), Key: aws.String(a.Key)})
		return nil, err
	case "delete_many":
		objects := []types.ObjectIdentifier{}
		for _, k := range a.Keys {
			objects = append(objects, types.ObjectIdentifier{Key: aws.String(k)})
		}
		done, err := d.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(a.Bucket), Delete: &types.Delete{Objects: objects}})
		if err != nil {
			return nil, err
		}
		if len(done.Errors) > 0 {
			e := done.Errors[0]
			return nil, &smithy.GenericAPIError{Code: aws.ToString(e.Code), Message: aws.ToString(e.Key) + ": " + aws.ToString(e.Message)}
		}
		deleted := []string{}
		for _, o := range done.Deleted {
			deleted = append(deleted, aws.ToString(o.Key))
		}
		return deleted, nil
	case "presigned_get":
		signed, err := d.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(a.Bucket), Key: aws.String(a.Key)})
		if err != nil {
			return nil, err
		}
		return d.fetch(http.MethodGet, signed.URL, signed.SignedHeader, nil)
	case "presigned_put":
		data, err := decode(a.Data)
		if err != nil {
			return nil, err
		}
		input := &s3.PutObjectInput{Bucket: aws.String(a.Bucket), Key: aws.String(a.Key), Metadata: a.Metadata}
		for algorithm, value := range a.Checksums {
			if algorithm != "CRC32" {
				return nil, fmt.Errorf("checksum %s: the driver passes CRC32 only", algorithm)
			}
			input.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32
			input.ChecksumCRC32 = aws.String(value)
		}
		signed, err := d.presign.PresignPutObject(ctx, input)
		if err != nil {
			return nil, err
		}
		return d.fetch(http.MethodPut, signed.URL, signed.SignedHeader, data)
	}
	return nil, &smithy.GenericAPIError{Code: "Unsupported", Message: "the driver has no operation " + op}
}

// fetch sends a presigned request with a plain net/http client: the URL, and the headers the
// presigner says were signed (the Go presigner keeps some, e.g. x-amz-meta-*, as headers).
func (d *driver) fetch(method, signedURL string, headers http.Header, body []byte) (any, error) {
	request, err := http.NewRequest(method, signedURL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for name, values := range headers {
		if strings.EqualFold(name, "host") {
			continue
		}
		for _, v := range values {
			request.Header.Add(name, v)
		}
	}
	request.ContentLength = int64(len(body))
	response, err := d.http.Do(request)
	if err != nil {
		return nil, err
	}
	defer response.Body.Close()
	answer, err := io.ReadAll(response.Body)
	signed := []string{}
	for name := range headers {
		signed = append(signed, strings.ToLower(name))
	}
	return map[string]any{"url": signedURL, "status": response.StatusCode, "body": encode(answer), "signed_headers": signed}, err
}

func describe(err error) failure {
	out := failure{Name: "Error", Message: err.Error()}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		out.Name = apiErr.ErrorCode()
	}
	var responseErr *awshttp.ResponseError
	if errors.As(err, &responseErr) {
		out.Status = responseErr.HTTPStatusCode()
	}
	if len(out.Message) > 500 {
		out.Message = out.Message[:500]
	}
	return out
}

func main() {
	var config struct {
		Endpoint string `json:"endpoint"`
		CAFile   string `json:"ca_file"`
	}
	if err := json.Unmarshal([]byte(os.Args[1]), &config); err != nil {
		fmt.Fprintln(os.Stderr, "bad configuration:", err)
		os.Exit(2)
	}
	d, err := newDriver(config.Endpoint, config.CAFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	lines := bufio.NewScanner(os.Stdin)
	lines.Buffer(make([]byte, 1<<20), 64<<20)
	out := json.NewEncoder(os.Stdout)
	for lines.Scan() {
		var r request
		if err := json.Unmarshal(lines.Bytes(), &r); err != nil {
			fmt.Fprintln(os.Stderr, "bad request:", err)
			os.Exit(2)
		}
		var a args
		if len(r.Args) > 0 {
			if err := json.Unmarshal(r.Args, &a); err != nil {
				fmt.Fprintln(os.Stderr, "bad arguments:", err)
				os.Exit(2)
			}
		}
		value, err := d.run(r.Op, a)
		if err != nil {
			out.Encode(map[string]any{"id": r.ID, "ok": false, "error": describe(err)})
		} else {
			out.Encode(map[string]any{"id": r.ID, "ok": true, "value": value})
		}
	}
}
