"""boto3 through the in-process endpoint (``attach``/``make_client``) and over real HTTP.

The in-process path must give boto3 the same view as the wire: streaming bodies, HEAD
lengths, errors, special keys, ranged downloads, and no socket at all.
"""

from __future__ import annotations

import hashlib
import io
import socket
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.exceptions
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.config import Config

from pachs3.core.http import EmptyStream, RequestHead, S3Response
from pachs3.transports.boto import DEFAULT_ENDPOINT_URL, READ_SIZE, attach, make_client

SPECIAL_KEY = "dir/sp ace+plus%pct&amp=eqü€~.txt"
SPECIAL_KEY_RAW = "dir/sp%20ace%2Bplus%25pct%26amp%3Deq%C3%BC%E2%82%AC~.txt"
NO_RETRY = Config(retries={"total_max_attempts": 1})
CLASSIC = TransferConfig(preferred_transfer_client="classic")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any socket connection attempt fails the test: the in-process path opens none."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network used: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_round_trip_without_network(mini_s3: Any, no_network: None) -> None:
    s3 = make_client(mini_s3)
    s3.put_object(Bucket="b", Key="k", Body=b"hello world")
    got = s3.get_object(Bucket="b", Key="k")
    assert got["Body"].read() == b"hello world"
    assert got["ContentLength"] == 11
    assert got["ETag"] == f'"{hashlib.md5(b"hello world").hexdigest()}"'
    assert s3.head_object(Bucket="b", Key="k")["ContentLength"] == 11
    listed = s3.list_objects_v2(Bucket="b", Prefix="k")
    assert [o["Key"] for o in listed["Contents"]] == ["k"]
    s3.delete_object(Bucket="b", Key="k")
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        s3.get_object(Bucket="b", Key="k")
    assert caught.value.response["Error"]["Code"] == "NoSuchKey"
    assert all(stream.closed.is_set() for stream in mini_s3.streams)


def test_request_head_matches_the_wire(mini_s3: Any) -> None:
    s3 = make_client(mini_s3)
    s3.put_object(Bucket="b", Key=SPECIAL_KEY, Body=b"x" * 10, Metadata={"color": "blue"})
    head: RequestHead = mini_s3.seen[-1].head
    assert head.method == "PUT"
    assert head.path == "/b/" + SPECIAL_KEY_RAW
    assert head.scheme == "http"
    assert head.host == "pachs3.local"
    assert head.header("host") == "pachs3.local"
    assert head.header("content-length") == "10"
    assert head.header("expect") == "100-continue"
    assert head.header("x-amz-meta-color") == "blue"
    assert head.header("authorization", "").startswith("AWS4-HMAC-SHA256 ")
    assert all(name == name.lower() for name, _ in head.headers)
    assert s3.get_object(Bucket="b", Key=SPECIAL_KEY)["Body"].read() == b"x" * 10


def test_query_pairs_from_botocore(mini_s3: Any) -> None:
    s3 = make_client(mini_s3)
    s3.list_objects_v2(Bucket="b", Prefix="a b+c", Delimiter="", MaxKeys=5)
    query = dict(mini_s3.seen[-1].head.query)
    assert query["list-type"] == "2"
    assert query["prefix"] == "a b+c"  # botocore sent a%20b%2Bc
    assert query["max-keys"] == "5"
    assert query.get("delimiter", "") == ""


def test_get_object_streams_and_closes(mini_s3: Any, support: Any) -> None:
    s3 = make_client(mini_s3)
    size = 10 * support.MiB + 5
    body = s3.get_object(Bucket="b", Key=f"gen/{size}")["Body"]
    first = body.read(1000)
    assert len(first) == 1000
    assert first == bytes(range(256)) * 3 + bytes(range(232))
    stream = mini_s3.streams[-1]
    assert stream.produced <= 1000 + 256 * 1024  # read lazily, not buffered whole
    digest = hashlib.md5(first)
    while chunk := body.read(300 * 1024):
        digest.update(chunk)
    assert digest.hexdigest() == support.generated_md5(size)
    assert stream.exhausted
    assert stream.closed.is_set()


def test_closing_the_body_early_closes_the_stream(mini_s3: Any) -> None:
    s3 = make_client(mini_s3)
    body = s3.get_object(Bucket="b", Key=f"gen/{1 << 30}")["Body"]
    assert len(body.read(10)) == 10
    body.close()
    stream = mini_s3.streams[-1]
    assert stream.closed.is_set()
    assert stream.produced < 1 << 20


def test_iter_chunks_readinto_and_lines(mini_s3: Any) -> None:
    s3 = make_client(mini_s3)
    s3.put_object(Bucket="b", Key="t", Body=b"line1\nline2\nline3")
    body = s3.get_object(Bucket="b", Key="t")["Body"]
    assert list(body.iter_lines()) == [b"line1", b"line2", b"line3"]
    buffer = bytearray(4)
    body = s3.get_object(Bucket="b", Key="t")["Body"]
    assert body.readinto(buffer) == 4
    assert bytes(buffer) == b"line"
    assert b"".join(s3.get_object(Bucket="b", Key="t")["Body"].iter_chunks(5)) == (
        b"line1\nline2\nline3"
    )


def test_head_object_has_length_and_stream_is_closed(mini_s3: Any) -> None:
    s3 = make_client(mini_s3)
    assert s3.head_object(Bucket="b", Key="gen/12345")["ContentLength"] == 12345
    stream = mini_s3.streams[-1]
    assert stream.produced == 0
    assert stream.closed.is_set()


def test_put_object_file_like_is_read_in_chunks(mini_s3: Any, support: Any) -> None:
    reads: list[int] = []

    class Recording(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            reads.append(-1 if size is None else size)
            return super().read(size)

    data = bytes(range(256)) * (12 * 4096)  # 12 MiB
    s3 = make_client(mini_s3)
    s3.put_object(Bucket="b", Key="f", Body=Recording(data))
    seen = mini_s3.seen[-1]
    assert seen.body_length == len(data)
    assert mini_s3.objects[("b", "f")].md5 == hashlib.md5(data).hexdigest()
    assert all(0 < size <= READ_SIZE for size in reads if size != -1)
    assert -1 not in reads[-5:]  # our reads were bounded (botocore hashes it in chunks too)


def test_upload_and_download_file(mini_s3: Any, tmp_path: Any, support: Any) -> None:
    s3 = make_client(mini_s3)
    source = tmp_path / "up.bin"
    source.write_bytes(bytes(range(256)) * 4096 * 3)
    s3.upload_file(str(source), "b", "up.bin", Config=CLASSIC)
    assert mini_s3.objects[("b", "up.bin")].md5 == hashlib.md5(source.read_bytes()).hexdigest()
    # a 24 MiB generated object: s3transfer downloads it with concurrent ranged GETs
    size = 24 * support.MiB + 7
    target = tmp_path / "down.bin"
    s3.download_file(
        "b", f"gen/{size}", str(target), Config=TransferConfig(multipart_chunksize=8 << 20)
    )
    assert hashlib.md5(target.read_bytes()).hexdigest() == support.generated_md5(size)
    ranged = [s.head.header("range") for s in mini_s3.seen if s.head.header("range")]
    assert len(ranged) >= 3
    assert all(stream.closed.is_set() for stream in mini_s3.streams)


def test_concurrent_calls_through_one_client(mini_s3: Any) -> None:
    s3 = make_client(mini_s3)
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            for j in range(20):
                key = f"k{i}/{j}"
                s3.put_object(Bucket="b", Key=key, Body=key.encode() * 100)
                assert s3.get_object(Bucket="b", Key=key)["Body"].read() == key.encode() * 100
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors


def test_error_response_and_no_retry_config(support: Any) -> None:
    calls: list[RequestHead] = []

    class Failing:
        def handle(self, head: RequestHead, body: Iterator[bytes]) -> S3Response:
            calls.append(head)
            return support.error_response(500, "InternalError", "boom")

    with pytest.raises(botocore.exceptions.ClientError) as caught:
        make_client(Failing(), config=NO_RETRY).get_object(Bucket="b", Key="k")
    assert caught.value.response["Error"]["Code"] == "InternalError"
    assert len(calls) == 1


def test_stream_failure_mid_body_is_a_streaming_error() -> None:
    class Broken:
        def __init__(self) -> None:
            self.count = 0
            self.closed = False

        def __iter__(self) -> Iterator[bytes]:
            return self

        def __next__(self) -> bytes:
            self.count += 1
            if self.count > 2:
                raise OSError("disk gone")
            return b"x" * 100

        def close(self) -> None:
            self.closed = True

    stream = Broken()

    class Handler_:
        def handle(self, head: RequestHead, body: Iterator[bytes]) -> S3Response:
            return S3Response(status=200, headers=(("content-length", "1000"),), body=stream)

    body = make_client(Handler_()).get_object(Bucket="b", Key="k")["Body"]
    with pytest.raises(botocore.exceptions.ResponseStreamingError):
        body.read()
    assert stream.closed


def test_short_body_is_detected_by_botocore() -> None:
    class Short:
        def handle(self, head: RequestHead, body: Iterator[bytes]) -> S3Response:
            return S3Response(
                status=200, headers=(("content-length", "10"),), body=iter_stream([b"abc"])
            )

    body = make_client(Short()).get_object(Bucket="b", Key="k")["Body"]
    with pytest.raises(botocore.exceptions.IncompleteReadError):
        body.read()


def test_callers_body_error_is_reraised_not_retried(mini_s3: Any) -> None:
    # Drive the hook directly: botocore would hash a failing file before sending it.
    hooks: list[Any] = []

    class Events:
        def register_first(self, name: str, hook: Any) -> None:
            hooks.append(hook)

        def unregister(self, name: str, hook: Any) -> None:
            hooks.remove(hook)

    class FakeClient:
        class meta:
            endpoint_url = DEFAULT_ENDPOINT_URL
            events = Events()

    detach = attach(FakeClient(), mini_s3)  # type: ignore[arg-type]

    class Exploding(io.RawIOBase):
        def __init__(self) -> None:
            self.calls = 0

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            self.calls += 1
            if self.calls > 2:
                raise OSError("caller's disk failed")
            return b"y" * 100

    request = AWSPreparedRequest(
        "PUT", DEFAULT_ENDPOINT_URL + "/b/k", {"Content-Length": "1000"}, Exploding(), False
    )
    with pytest.raises(OSError, match="caller's disk failed"):
        hooks[0](request=request)
    assert mini_s3.seen[-1].body_length == 200
    detach()
    assert hooks == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (None, b""),
        (b"", b""),
        (b"abc", b"abc"),
        (bytearray(b"abc"), b"abc"),
        ("ü", "ü".encode()),
        (io.BytesIO(b"x" * (3 * READ_SIZE + 1)), b"x" * (3 * READ_SIZE + 1)),
        (io.StringIO("text"), b"text"),
        (iter([b"a", b"", "b", bytearray(b"c")]), b"abc"),
    ],
)
def test_request_body_forms(echo: Any, body: Any, expected: bytes) -> None:
    hooks: list[Any] = []

    class Events:
        def register_first(self, name: str, hook: Any) -> None:
            hooks.append(hook)

    class FakeClient:
        class meta:
            endpoint_url = DEFAULT_ENDPOINT_URL
            events = Events()

    attach(FakeClient(), echo)  # type: ignore[arg-type]
    request = AWSPreparedRequest("PUT", DEFAULT_ENDPOINT_URL + "/b/k?x=1", {}, body, False)
    response: AWSResponse = hooks[0](request=request)
    doc = __import__("json").loads(response.content)
    assert doc["length"] == len(expected)
    assert doc["md5"] == hashlib.md5(expected).hexdigest()
    assert doc["query"] == [["x", "1"]]


def test_detach_restores_the_network_path(mini_s3: Any) -> None:
    s3 = boto3.session.Session().client(
        "s3",
        endpoint_url="http://pachs3.local",
        aws_access_key_id="a",
        aws_secret_access_key="b",
        region_name="us-east-1",
        config=NO_RETRY,
    )
    canned: list[str] = []

    class EmptyRaw:
        def stream(self, *args: Any, **kwargs: Any) -> Iterator[bytes]:
            return iter(())

    def fallback(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        canned.append(request.url)
        headers: Any = {"content-length": "0"}
        return AWSResponse(request.url, 200, headers, EmptyRaw())

    s3.meta.events.register("before-send.s3", fallback)
    with attach(s3, mini_s3) as detach:
        s3.put_object(Bucket="b", Key="k", Body=b"1")
        assert detach.attached
    assert not detach.attached
    detach()  # harmless twice
    count = len(mini_s3.seen)
    s3.put_object(Bucket="b", Key="k2", Body=b"2")
    assert len(mini_s3.seen) == count  # our handler is no longer asked
    assert canned[-1].endswith("/b/k2")


def test_endpoint_host_checks_and_virtual_hosts(mini_s3: Any) -> None:
    elsewhere = boto3.session.Session().client(
        "s3",
        endpoint_url="http://example.test",
        aws_access_key_id="a",
        aws_secret_access_key="b",
        region_name="us-east-1",
    )
    with pytest.raises(ValueError, match="endpoint_host=None"):
        attach(elsewhere, mini_s3)
    detach = attach(elsewhere, mini_s3, endpoint_host=None)
    elsewhere.put_object(Bucket="b", Key="k", Body=b"1")
    assert mini_s3.seen[-1].head.host == "example.test"
    detach()

    virtual = make_client(mini_s3, config=Config(s3={"addressing_style": "virtual"}))
    virtual.put_object(Bucket="bucket", Key="k", Body=b"1")
    head = mini_s3.seen[-1].head
    assert head.host == "bucket.pachs3.local"
    assert head.path == "/k"


def test_make_client_defaults_and_overrides(mini_s3: Any) -> None:
    s3 = make_client(mini_s3, region_name="eu-west-1", config=Config(retries={"max_attempts": 2}))
    assert s3.meta.region_name == "eu-west-1"
    assert s3.meta.endpoint_url == DEFAULT_ENDPOINT_URL
    assert s3.meta.config.s3 == {"addressing_style": "path"}  # kept under a user config
    assert s3.meta.config.signature_version == "s3v4"
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"})
    assert "X-Amz-Signature=" in url
    custom = make_client(mini_s3, endpoint_url="http://gw.internal:9000")
    custom.put_object(Bucket="b", Key="k", Body=b"1")
    assert mini_s3.seen[-1].head.host == "gw.internal:9000"


# -- boto3 over real HTTP --------------------------------------------------------------------


def http_client(endpoint_url: str, **config: Any) -> Any:
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id="a",
        aws_secret_access_key="b",
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}, **config),
    )


def test_boto3_over_the_threaded_server(
    mini_s3: Any, serve: Any, tmp_path: Any, support: Any
) -> None:
    server = serve(mini_s3)
    s3 = http_client(server.endpoint_url)
    s3.put_object(Bucket="b", Key=SPECIAL_KEY, Body=b"special")
    assert mini_s3.seen[-1].head.path == "/b/" + SPECIAL_KEY_RAW
    assert mini_s3.seen[-1].head.header("expect") == "100-continue"
    assert s3.get_object(Bucket="b", Key=SPECIAL_KEY)["Body"].read() == b"special"
    assert s3.head_object(Bucket="b", Key="gen/777")["ContentLength"] == 777
    size = 20 * support.MiB + 1
    target = tmp_path / "down.bin"
    s3.download_file("b", f"gen/{size}", str(target), Config=CLASSIC)
    assert hashlib.md5(target.read_bytes()).hexdigest() == support.generated_md5(size)
    source = tmp_path / "up.bin"
    source.write_bytes(b"u" * (3 * support.MiB))
    s3.upload_file(str(source), "b", "up", Config=CLASSIC)
    assert mini_s3.objects[("b", "up")].size == 3 * support.MiB
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        s3.get_object(Bucket="b", Key="missing")
    assert caught.value.response["Error"]["Code"] == "NoSuchKey"
    assert support.wait_for(lambda: all(s.closed.is_set() for s in mini_s3.streams), 5)


def test_boto3_over_tls_sends_aws_chunked(serve: Any, tls_pair: tuple[str, str]) -> None:
    seen: list[tuple[RequestHead, bytes]] = []

    class Recording:
        def handle(self, head: RequestHead, body: Iterator[bytes]) -> S3Response:
            seen.append((head, b"".join(body)))
            return S3Response(status=200, headers=(("etag", '"x"'), ("content-length", "0")))

    certfile, keyfile = tls_pair
    server = serve(Recording(), ssl_certfile=certfile, ssl_keyfile=keyfile)
    s3 = boto3.session.Session().client(
        "s3",
        endpoint_url=server.endpoint_url,
        aws_access_key_id="a",
        aws_secret_access_key="b",
        region_name="us-east-1",
        verify=certfile,
        config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}),
    )
    s3.put_object(Bucket="b", Key="k", Body=b"hello")
    head, raw = seen[-1]
    assert head.scheme == "https"
    assert head.header("content-encoding") == "aws-chunked"
    assert head.header("transfer-encoding") == "chunked"
    assert head.header("content-length") is None
    # HTTP chunking removed by the server; the aws-chunked framing is the gateway's to decode
    assert raw.startswith(b"5\r\nhello\r\n0\r\n")
    assert b"x-amz-checksum-crc32:" in raw


def iter_stream(chunks: list[bytes]) -> Any:
    class Stream:
        def __init__(self) -> None:
            self._chunks = iter(chunks)

        def __iter__(self) -> Any:
            return self

        def __next__(self) -> bytes:
            return next(self._chunks)

        def close(self) -> None:
            pass

    return Stream()


def test_not_modified_has_no_body(support: Any) -> None:
    streams: list[Any] = []

    class NotModified:
        def handle(self, head: RequestHead, body: Iterator[bytes]) -> S3Response:
            stream = support.TrackedStream([b"ignored"])
            streams.append(stream)
            return S3Response(
                status=304, headers=(("etag", '"x"'), ("content-length", "7")), body=stream
            )

    s3 = make_client(NotModified(), config=NO_RETRY)
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        s3.get_object(Bucket="b", Key="k", IfNoneMatch='"x"')
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    assert streams[0].produced == 0
    assert streams[0].closed.is_set()


def test_empty_stream_head_path() -> None:
    class Head:
        def handle(self, head: RequestHead, body: Iterator[bytes]) -> S3Response:
            return S3Response(status=200, headers=(("content-length", "5"),), body=EmptyStream())

    assert make_client(Head()).head_object(Bucket="b", Key="k")["ContentLength"] == 5
