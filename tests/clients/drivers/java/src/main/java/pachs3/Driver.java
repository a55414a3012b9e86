// The AWS SDK for Java v2 as a client of the pachs3 battery (tests/clients/test_client_java.py).
//
// A thin driver with the protocol of drivers/js/driver.mjs: it knows no expected values. It reads
// one JSON request per line on stdin, {"id", "op", "args"}, performs that one S3 operation with
// the SDK, and prints one result line, {"id", "ok": true, "value"} or {"id", "ok": false,
// "error": {name, status, message}}. Bytes travel base64-encoded; big files by path.
//
// The synchronous S3Client (default checksums) runs the battery; S3TransferManager over the
// CRT-based S3AsyncClient does the large multipart upload and the ranged parallel download.
//
//   java -cp CLASSPATH pachs3.Driver '{"endpoint": "http://127.0.0.1:PORT"}'
//
// Over TLS the S3Client (Apache client) and java.net.http trust what the JVM's trust store holds
// (javax.net.ssl.trustStore: the test's CA). The CRT client verifies with its own native TLS and
// the system's CA store: its builder has no CA option (S3CrtHttpConfiguration.Builder offers only
// trustAllCertificatesEnabled), so with "crt_trust_all": true it is told to trust any certificate.
package pachs3;

import com.google.gson.Gson;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionException;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.awscore.exception.AwsServiceException;
import software.amazon.awssdk.core.exception.SdkServiceException;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3AsyncClient;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.ChecksumAlgorithm;
import software.amazon.awssdk.services.s3.model.CommonPrefix;
import software.amazon.awssdk.services.s3.model.DeleteObjectsResponse;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Request;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Response;
import software.amazon.awssdk.services.s3.model.ObjectIdentifier;
import software.amazon.awssdk.services.s3.model.PutObjectRequest;
import software.amazon.awssdk.services.s3.model.S3Object;
import software.amazon.awssdk.services.s3.presigner.S3Presigner;
import software.amazon.awssdk.services.s3.presigner.model.PresignedGetObjectRequest;
import software.amazon.awssdk.services.s3.presigner.model.PresignedPutObjectRequest;
import software.amazon.awssdk.transfer.s3.S3TransferManager;

public final class Driver {
    private static final long MiB = 1 << 20;
    private static final Gson GSON = new Gson();

    private final S3Client client;
    private final S3AsyncClient crt;
    private final S3TransferManager transfers;
    private final S3Presigner presigner;
    private final HttpClient http = HttpClient.newHttpClient();

    private Driver(String endpoint, boolean crtTrustAll) {
        var credentials = StaticCredentialsProvider.create(AwsBasicCredentials.create("any-key", "any-secret"));
        URI uri = URI.create(endpoint);
        client = S3Client.builder()
                .endpointOverride(uri)
                .region(Region.US_EAST_1)
                .credentialsProvider(credentials)
                .forcePathStyle(true)
                .build();
        // The CRT client splits uploads into parts and downloads into ranged GETs, in parallel.
        crt = S3AsyncClient.crtBuilder()
                .endpointOverride(uri)
                .region(Region.US_EAST_1)
                .credentialsProvider(credentials)
                .forcePathStyle(true)
                .minimumPartSizeInBytes(5 * MiB)
                .maxConcurrency(4)
                .httpConfiguration(http -> http.trustAllCertificatesEnabled(crtTrustAll))
                .build();
        transfers = S3TransferManager.builder().s3Client(crt).build();
        presigner = S3Presigner.builder()
                .endpointOverride(uri)
                .region(Region.US_EAST_1)
                .credentialsProvider(credentials)
                .serviceConfiguration(software.amazon.awssdk.services.s3.S3Configuration.builder()
                        .pathStyleAccessEnabled(true).build())
                .build();
    }

    private static byte[] decode(JsonObject a, String name) {
        return Base64.getDecoder().decode(a.has(name) ? a.get(name).getAsString() : "");
    }

    private static String encode(byte[] data) {
        return Base64.getEncoder().encodeToString(data);
    }

    private static String str(JsonObject a, String name) {
        return a.has(name) && !a.get(name).isJsonNull() ? a.get(name).getAsString() : null;
    }

    private Map<String, List<String>> list(String bucket, String prefix, String delimiter) {
        List<String> keys = new ArrayList<>();
        List<String> prefixes = new ArrayList<>();
        var request = ListObjectsV2Request.builder().bucket(bucket).prefix(prefix).delimiter(delimiter).build();
        for (ListObjectsV2Response page : client.listObjectsV2Paginator(request)) {
            for (S3Object o : page.contents()) keys.add(o.key());
            for (CommonPrefix p : page.commonPrefixes()) prefixes.add(p.prefix());
        }
        Map<String, List<String>> out = new LinkedHashMap<>();
        out.put("keys", keys);
        out.put("prefixes", prefixes);
        return out;
    }

    private Object run(String op, JsonObject a) throws Exception {
        String bucket = str(a, "bucket");
        String key = str(a, "key");
        switch (op) {
            case "list_buckets": {
                List<String> names = new ArrayList<>();
                client.listBuckets().buckets().forEach(b -> names.add(b.name()));
                return names;
            }
            case "list_keys":
                return list(bucket, str(a, "prefix"), null).get("keys");
            case "list_dir":
                return list(bucket, str(a, "prefix"), "/");
            case "put_small":
            case "put_if_absent": {
                var request = PutObjectRequest.builder().bucket(bucket).key(key);
                if (op.equals("put_if_absent")) request.ifNoneMatch("*");
                var put = client.putObject(request.build(), RequestBody.fromBytes(decode(a, "data")));
                return Map.of("etag", put.eTag());
            }
            case "put_large": {
                var done = transfers.uploadFile(u -> u
                        .putObjectRequest(p -> p.bucket(bucket).key(key))
                        .source(Paths.get(str(a, "path")))).completionFuture().join();
                return Map.of("etag", done.response().eTag());
            }
            case "get":
                return encode(client.getObjectAsBytes(g -> g.bucket(bucket).key(key)).asByteArray());
            case "get_range": {
                String range = "bytes=" + a.get("start").getAsLong() + "-" + a.get("end").getAsLong();
                return encode(client.getObjectAsBytes(g -> g.bucket(bucket).key(key).range(range)).asByteArray());
            }
            case "download": {
                transfers.downloadFile(d -> d
                        .getObjectRequest(g -> g.bucket(bucket).key(key))
                        .destination(Paths.get(str(a, "path")))).completionFuture().join();
                return null;
            }
            case "size":
                return client.headObject(h -> h.bucket(bucket).key(key)).contentLength();
            case "head": {
                HeadObjectResponse head = client.headObject(h -> h.bucket(bucket).key(key));
                Map<String, Object> out = new HashMap<>();
                out.put("size", head.contentLength());
                out.put("etag", head.eTag());
                out.put("metadata", head.metadata());
                return out;
            }
            case "copy":
                // The SDK encodes sourceKey into x-amz-copy-source itself.
                client.copyObject(c -> c.sourceBucket(str(a, "src_bucket")).sourceKey(str(a, "src_key"))
                        .destinationBucket(str(a, "dst_bucket")).destinationKey(str(a, "dst_key")));
                return null;
            case "create_bucket":
                client.createBucket(c -> c.bucket(bucket));
                return null;
            case "delete_bucket":
                client.deleteBucket(d -> d.bucket(bucket));
                return null;
            case "delete":
                client.deleteObject(d -> d.bucket(bucket).key(key));
                return null;
            case "delete_many": {
                List<ObjectIdentifier> objects = new ArrayList<>();
                for (JsonElement k : a.getAsJsonArray("keys")) objects.add(ObjectIdentifier.builder().key(k.getAsString()).build());
                DeleteObjectsResponse done = client.deleteObjects(d -> d.bucket(bucket).delete(x -> x.objects(objects)));
                if (!done.errors().isEmpty()) {
                    var first = done.errors().get(0);
                    throw new IllegalStateException(first.code() + " " + first.key() + ": " + first.message());
                }
                List<String> deleted = new ArrayList<>();
                done.deleted().forEach(d -> deleted.add(d.key()));
                return deleted;
            }
            case "presigned_get": {
                PresignedGetObjectRequest signed = presigner.presignGetObject(p -> p
                        .signatureDuration(Duration.ofMinutes(5))
                        .getObjectRequest(g -> g.bucket(bucket).key(key)));
                return send("GET", signed.url().toString(), signed.signedHeaders(), new byte[0]);
            }
            case "presigned_put": {
                var put = PutObjectRequest.builder().bucket(bucket).key(key);
                if (a.has("metadata") && !a.get("metadata").isJsonNull()) {
                    Map<String, String> metadata = new HashMap<>();
                    a.getAsJsonObject("metadata").entrySet().forEach(e -> metadata.put(e.getKey(), e.getValue().getAsString()));
                    put.metadata(metadata);
                }
                if (a.has("checksums") && !a.get("checksums").isJsonNull()) {
                    for (var e : a.getAsJsonObject("checksums").entrySet()) {
                        if (!e.getKey().equals("CRC32")) throw new IllegalArgumentException("the driver passes CRC32 only");
                        put.checksumAlgorithm(ChecksumAlgorithm.CRC32).checksumCRC32(e.getValue().getAsString());
                    }
                }
                PresignedPutObjectRequest signed = presigner.presignPutObject(p -> p
                        .signatureDuration(Duration.ofMinutes(5)).putObjectRequest(put.build()));
                return send("PUT", signed.url().toString(), signed.signedHeaders(), decode(a, "data"));
            }
            default:
                throw new UnsupportedOperationException("the driver has no operation " + op);
        }
    }

    // A presigned request sent with java.net.http: the URL, and the headers the presigner says
    // were signed (besides host).
    private Object send(String method, String url, Map<String, List<String>> headers, byte[] body) throws Exception {
        var request = HttpRequest.newBuilder(URI.create(url))
                .method(method, body.length == 0 && method.equals("GET")
                        ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofByteArray(body));
        List<String> signed = new ArrayList<>();
        headers.forEach((name, values) -> {
            signed.add(name.toLowerCase());
            if (!name.equalsIgnoreCase("host")) values.forEach(v -> request.header(name, v));
        });
        HttpResponse<byte[]> response = http.send(request.build(), HttpResponse.BodyHandlers.ofByteArray());
        Map<String, Object> out = new HashMap<>();
        out.put("url", url);
        out.put("status", response.statusCode());
        out.put("body", encode(response.body()));
        out.put("signed_headers", signed);
        return out;
    }

    private static Map<String, Object> describe(Throwable error) {
        while (error instanceof CompletionException && error.getCause() != null) error = error.getCause();
        Map<String, Object> out = new HashMap<>();
        out.put("name", error.getClass().getSimpleName());
        if (error instanceof UnsupportedOperationException) out.put("name", "Unsupported");
        if (error instanceof AwsServiceException aws && aws.awsErrorDetails() != null
                && aws.awsErrorDetails().errorCode() != null) {
            out.put("name", aws.awsErrorDetails().errorCode());
        }
        if (error instanceof SdkServiceException service) out.put("status", service.statusCode());
        String message = String.valueOf(error.getMessage());
        out.put("message", message.length() > 500 ? message.substring(0, 500) : message);
        return out;
    }

    public static void main(String[] argv) throws Exception {
        JsonObject config = GSON.fromJson(argv[0], JsonObject.class);
        boolean crtTrustAll = config.has("crt_trust_all") && config.get("crt_trust_all").getAsBoolean();
        Driver driver = new Driver(config.get("endpoint").getAsString(), crtTrustAll);
        var in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isBlank()) continue;
            JsonObject request = GSON.fromJson(line, JsonObject.class);
            Map<String, Object> answer = new LinkedHashMap<>();
            answer.put("id", request.get("id").getAsInt());
            JsonObject args = request.has("args") ? request.getAsJsonObject("args") : new JsonObject();
            try {
                Object value = driver.run(request.get("op").getAsString(), args);
                answer.put("ok", true);
                answer.put("value", value);
            } catch (Throwable error) {
                answer.put("ok", false);
                answer.put("error", describe(error));
            }
            System.out.println(GSON.toJson(answer));
            System.out.flush();
        }
        driver.transfers.close();
        driver.crt.close();
        driver.client.close();
        driver.presigner.close();
    }
}
