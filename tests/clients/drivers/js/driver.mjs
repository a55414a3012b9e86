// The AWS SDK for JavaScript v3 as a client of the pachs3 battery (tests/clients/test_client_js.py).
//
// A thin driver: it knows no expected values. It reads one JSON request per line on stdin,
// {"id", "op", "args"}, performs that one S3 operation with the SDK, and prints one result line,
// {"id", "ok": true, "value"} or {"id", "ok": false, "error": {name, status, message}}. The Python
// side (clients_drivers.py) turns the operations into the battery's Adapter and checks every
// answer against the store itself. Bytes travel base64-encoded; big files by path.
//
//   node driver.mjs '{"endpoint": "http://127.0.0.1:PORT", "checksums": "WHEN_SUPPORTED"}'

import { createReadStream, createWriteStream } from "node:fs";
import { createInterface } from "node:readline";
import { pipeline } from "node:stream/promises";

import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";

const config = JSON.parse(process.argv[2]);
const MiB = 1 << 20;

const client = new S3Client({
  endpoint: config.endpoint,
  region: "us-east-1",
  forcePathStyle: true,
  credentials: { accessKeyId: "any-key", secretAccessKey: "any-secret" },
  // "WHEN_SUPPORTED" (the SDK's default: CRC32 on every upload) or "WHEN_REQUIRED".
  requestChecksumCalculation: config.checksums,
  responseChecksumValidation: config.checksums,
  maxAttempts: 2,
});

const bytes = (b64) => Buffer.from(b64 ?? "", "base64");
const b64 = (buffer) => Buffer.from(buffer).toString("base64");
// x-amz-copy-source: "bucket/key", the key URL-encoded segment by segment.
const copySource = (bucket, key) => `${bucket}/${key.split("/").map(encodeURIComponent).join("/")}`;

async function listAll(bucket, prefix, delimiter) {
  const keys = [];
  const prefixes = [];
  let token;
  do {
    const page = await client.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: prefix || undefined,
        Delimiter: delimiter,
        ContinuationToken: token,
      }),
    );
    for (const o of page.Contents ?? []) keys.push(o.Key);
    for (const p of page.CommonPrefixes ?? []) prefixes.push(p.Prefix);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return { keys, prefixes };
}

async function getBytes(bucket, key, range) {
  const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: range }));
  return b64(await got.Body.transformToByteArray());
}

const OPERATIONS = {
  async list_buckets() {
    const listed = await client.send(new ListBucketsCommand({}));
    return listed.Buckets.map((b) => b.Name);
  },
  async list_keys({ bucket, prefix }) {
    return (await listAll(bucket, prefix)).keys;
  },
  async list_dir({ bucket, prefix }) {
    return listAll(bucket, prefix, "/");
  },
  async put_small({ bucket, key, data }) {
    const put = await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes(data) }));
    return { etag: put.ETag };
  },
  async put_large({ bucket, key, path }) {
    // lib-storage: a multipart upload of 5 MiB parts, 4 at a time, from a stream.
    const upload = new Upload({
      client,
      params: { Bucket: bucket, Key: key, Body: createReadStream(path) },
      partSize: 5 * MiB,
      queueSize: 4,
      leavePartsOnError: false,
    });
    const done = await upload.done();
    return { etag: done.ETag };
  },
  async put_if_absent({ bucket, key, data }) {
    const put = await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes(data), IfNoneMatch: "*" }),
    );
    return { etag: put.ETag };
  },
  async get({ bucket, key }) {
    return getBytes(bucket, key);
  },
  async download({ bucket, key, path }) {
    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    await pipeline(got.Body, createWriteStream(path));
    return null;
  },
  async get_range({ bucket, key, start, end }) {
    return getBytes(bucket, key, `bytes=${start}-${end}`);
  },
  async size({ bucket, key }) {
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return head.ContentLength;
  },
  async head({ bucket, key }) {
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return { size: head.ContentLength, etag: head.ETag, metadata: head.Metadata ?? {} };
  },
  async copy({ src_bucket, src_key, dst_bucket, dst_key }) {
    await client.send(
      new CopyObjectCommand({ Bucket: dst_bucket, Key: dst_key, CopySource: copySource(src_bucket, src_key) }),
    );
    return null;
  },
  async create_bucket({ bucket }) {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    return null;
  },
  async delete_bucket({ bucket }) {
    await client.send(new DeleteBucketCommand({ Bucket: bucket }));
    return null;
  },
  async delete({ bucket, key }) {
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    return null;
  },
  async delete_many({ bucket, keys }) {
    const done = await client.send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.map((Key) => ({ Key })) } }),
    );
    if (done.Errors?.length) {
      const first = done.Errors[0];
      throw Object.assign(new Error(`${first.Key}: ${first.Message}`), { name: first.Code });
    }
    return (done.Deleted ?? []).map((d) => d.Key);
  },
  // Presigned URLs, used with fetch (no SDK on the request).
  async presigned_get({ bucket, key }) {
    const url = await getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: 300 });
    const response = await fetch(url);
    return { url, status: response.status, body: b64(await response.arrayBuffer()) };
  },
  async presigned_put({ bucket, key, data, metadata, checksums }) {
    // The presigner hoists x-amz-meta-* and the flexible-checksum parameters
    // (x-amz-checksum-*, x-amz-sdk-checksum-algorithm) into the query string: fetch sends only
    // the body. `checksums` ({"CRC32": base64}) are given values; without them the SDK's default
    // (WHEN_SUPPORTED) puts the CRC32 of the command's (empty) body there.
    const input = { Bucket: bucket, Key: key, Metadata: metadata ?? undefined };
    for (const [algorithm, value] of Object.entries(checksums ?? {})) {
      input.ChecksumAlgorithm = algorithm;
      input[`Checksum${algorithm}`] = value;
    }
    const url = await getSignedUrl(client, new PutObjectCommand(input), { expiresIn: 300 });
    const response = await fetch(url, { method: "PUT", body: bytes(data) });
    return { url, status: response.status, body: b64(await response.arrayBuffer()) };
  },
};

function describe(error) {
  return {
    name: error?.name ?? "Error",
    status: error?.$metadata?.httpStatusCode ?? null,
    message: String(error?.message ?? error).slice(0, 500),
  };
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (!line.trim()) continue;
  const { id, op, args } = JSON.parse(line);
  let answer;
  try {
    const run = OPERATIONS[op];
    if (!run) throw Object.assign(new Error(`the driver has no operation ${op}`), { name: "Unsupported" });
    answer = { id, ok: true, value: (await run(args ?? {})) ?? null };
  } catch (error) {
    answer = { id, ok: false, error: describe(error) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
}
