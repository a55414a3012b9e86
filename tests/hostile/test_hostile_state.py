"""A model of the ``out`` bucket driven through ``SidecarGateway.handle`` by a hypothesis state
machine: PUT (plain or aws-chunked, split anywhere), short bodies, GET with ranges, HEAD,
DELETE, DeleteObjects, copies, multipart uploads (completed, aborted, wrong ETag, left open)
and listings, checked after every step against a dict. Every byte read is compared; the input
bucket must never change."""

from __future__ import annotations

import base64
import contextlib
import hashlib
from urllib.parse import quote
from xml.etree import ElementTree

from hostile_models import expected_range, model_entries
from hostile_strategies import RANGE_TEXT, aws_chunked, crc32_b64, split
from hostile_support import (
    FUZZ_TALLIES,
    INPUT_FILES,
    S3_NS,
    Answer,
    Tally,
    budget,
    handle_checked,
    input_snapshot,
    list_page,
    memory_gateway,
)
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from pachs3.core.http import RequestHead

TALLY = Tally()
FUZZ_TALLIES.append(("hypothesis", {"state-machine": TALLY}))

# ---------------------------------------------------------------------------------------------
# A model of the ``out`` bucket, driven through ``handle`` by a state machine

OBJECT_KEY = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=12)


class OutBucketMachine(RuleBasedStateMachine):
    """PUT (plain or aws-chunked, any split), GET with ranges, HEAD, DELETE, DeleteObjects,
    copies, multipart uploads and listings on ``out``, checked after every step against a dict.
    The input bucket must never change, whatever is done to ``out``."""

    keys = Bundle("keys")

    def __init__(self) -> None:
        super().__init__()
        self._stack = contextlib.ExitStack()
        self.gateway = self._stack.enter_context(memory_gateway())
        self.inputs = input_snapshot(self.gateway)
        self.model: dict[str, bytes] = {}
        self.tally = TALLY

    def teardown(self) -> None:
        self._stack.close()

    def _call(
        self,
        method: str,
        key: str | None,
        *,
        query: tuple[tuple[str, str], ...] = (),
        headers: tuple[tuple[str, str], ...] = (),
        body: list[bytes] | None = None,
    ) -> Answer:
        path = "/out" if key is None else "/out/" + quote(key.encode("utf-8"), safe="/~")
        head = RequestHead(method=method, path=path, query=query, headers=headers)
        answer = handle_checked(self.gateway, head, body or [], self.tally)
        assert answer is not None
        return answer

    @initialize(target=keys)
    def first_key(self) -> str:
        return "k"

    @rule(target=keys, key=OBJECT_KEY)
    def new_key(self, key: str) -> str:
        return key

    @rule(key=keys, payload=st.binary(max_size=3000), data=st.data())
    def put(self, key: str, payload: bytes, data: st.DataObject) -> None:
        if data.draw(st.booleans()):
            raw = aws_chunked(
                payload,
                data.draw(st.lists(st.integers(1, 700), max_size=5)),
                trailers=[("x-amz-checksum-crc32", crc32_b64(payload))],
            )
            headers: tuple[tuple[str, str], ...] = (
                ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
                ("content-encoding", "aws-chunked"),
                ("x-amz-decoded-content-length", str(len(payload))),
                ("x-amz-trailer", "x-amz-checksum-crc32"),
                ("content-length", str(len(raw))),
            )
        else:
            raw = payload
            md5 = base64.b64encode(hashlib.md5(payload).digest()).decode()
            headers = (("content-length", str(len(raw))), ("content-md5", md5))
        answer = self._call("PUT", key, headers=headers, body=data.draw(split(raw)))
        if answer.status == 200:
            assert answer.header("etag") == f'"{hashlib.md5(payload).hexdigest()}"'
            self.model[key] = payload
        else:  # a key the store cannot hold: refused, and nothing changed
            assert answer.code in ("InvalidArgument", "KeyTooLongError"), answer

    @rule(key=keys, payload=st.binary(min_size=1, max_size=300), cut=st.integers(0, 299))
    def put_short_body(self, key: str, payload: bytes, cut: int) -> None:
        """A body shorter than its Content-Length (or a wrong MD5) stores nothing."""
        headers = (("content-length", str(len(payload))),)
        answer = self._call("PUT", key, headers=headers, body=[payload[: cut % len(payload)]])
        assert answer.code == "IncompleteBody", answer

    @rule(key=keys, header=st.none() | RANGE_TEXT)
    def get(self, key: str, header: str | None) -> None:
        answer = self._call("GET", key, headers=(("range", header),) if header else ())
        if key not in self.model:
            assert answer.status == 404
            assert answer.code in ("NoSuchKey", "InvalidArgument")
            return
        stored = self.model[key]
        expected = expected_range(header, len(stored)) if header is not None else "whole"
        if expected == "416":
            assert answer.status == 416
        elif expected == "whole":
            assert answer.status == 200
            assert answer.body == stored
        else:
            assert isinstance(expected, tuple)
            assert answer.status == 206
            assert answer.body == stored[expected[0] : expected[1] + 1]

    @rule(key=keys)
    def head(self, key: str) -> None:
        answer = self._call("HEAD", key)
        if key in self.model:
            assert answer.status == 200
            assert answer.header("content-length") == str(len(self.model[key]))
        else:
            assert answer.status in (400, 404)

    @rule(key=keys)
    def delete(self, key: str) -> None:
        answer = self._call("DELETE", key)
        assert answer.status in (204, 400), answer
        if answer.status == 204:
            self.model.pop(key, None)

    @rule(keys=st.lists(keys, min_size=1, max_size=5), quiet=st.booleans())
    def delete_objects(self, keys: list[str], quiet: bool) -> None:
        entries = "".join(
            "<Object><Key>" + "".join(f"&#{ord(c)};" for c in key) + "</Key></Object>"
            for key in keys
        )
        doc = f"<Delete><Quiet>{str(quiet).lower()}</Quiet>{entries}</Delete>".encode()
        answer = self._call(
            "POST",
            None,
            query=(("delete", ""),),
            headers=(("content-length", str(len(doc))),),
            body=[doc],
        )
        if any(
            (ord(c) < 0x20 and c not in "\t\n\r") or c in "\ufffe\uffff" for k in keys for c in k
        ):
            assert answer.status in (200, 400)
            if answer.status == 400:
                return
        assert answer.status == 200, answer
        for key in keys:
            self.model.pop(key, None)

    @rule(
        src=st.one_of(keys, st.sampled_from(sorted(INPUT_FILES))),
        dst=keys,
        from_input=st.booleans(),
    )
    def copy(self, src: str, dst: str, from_input: bool) -> None:
        bucket = "in" if from_input else "out"
        source = f"{bucket}/" + quote(src.encode("utf-8"), safe="/~")
        answer = self._call("PUT", dst, headers=(("x-amz-copy-source", source),))
        exists = src in (INPUT_FILES if from_input else self.model)
        if not exists:
            assert answer.status in (400, 404), answer
            return
        if not from_input and src == dst:
            assert answer.status == 400  # copying an object onto itself without changes
            return
        assert answer.status == 200, answer
        self.model[dst] = INPUT_FILES[src] if from_input else self.model[src]

    @rule(
        key=keys,
        parts=st.lists(st.binary(max_size=500), min_size=1, max_size=3),
        finish=st.sampled_from(["complete", "abort", "wrong-etag", "leave"]),
    )
    def multipart(self, key: str, parts: list[bytes], finish: str) -> None:
        started = self._call("POST", key, query=(("uploads", ""),))
        if started.status != 200:
            assert started.code == "InvalidArgument"
            return
        upload_id = ElementTree.fromstring(started.body).findtext(f"{S3_NS}UploadId")
        assert upload_id
        etags = []
        for number, part in enumerate(parts, 1):
            answer = self._call(
                "PUT",
                key,
                query=(("partNumber", str(number)), ("uploadId", upload_id)),
                headers=(("content-length", str(len(part))),),
                body=[part],
            )
            assert answer.status == 200, answer
            etags.append(answer.header("etag"))
        if finish == "leave":
            return
        if finish == "abort":
            assert self._call("DELETE", key, query=(("uploadId", upload_id),)).status == 204
            return
        if finish == "wrong-etag":
            etags[-1] = '"' + "0" * 32 + '"'
        doc = (
            "<CompleteMultipartUpload>"
            + "".join(
                f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>"
                for n, e in enumerate(etags, 1)
            )
            + "</CompleteMultipartUpload>"
        )
        answer = self._call(
            "POST",
            key,
            query=(("uploadId", upload_id),),
            headers=(("content-length", str(len(doc))),),
            body=[doc.encode()],
        )
        if finish == "wrong-etag":
            assert answer.code == "InvalidPart", answer
        elif len(parts) > 1:  # every part but the last must be 5 MiB
            assert answer.code == "EntityTooSmall", answer
        else:
            assert answer.status == 200, answer
            self.model[key] = parts[0]

    @precondition(lambda self: len(self.model) < 40)
    @rule(prefix=st.sampled_from(["", "k", "a"]), delimiter=st.sampled_from(["", "/"]))
    def list_objects(self, prefix: str, delimiter: str) -> None:
        query = [
            ("list-type", "2"),
            ("prefix", prefix),
            ("delimiter", delimiter),
            ("encoding-type", "url"),
        ]
        entries, fields = list_page(self.gateway, query)
        assert entries == model_entries(set(self.model), prefix, delimiter, "")
        assert fields["IsTruncated"] == "false"

    @invariant()
    def inputs_unchanged(self) -> None:
        assert input_snapshot(self.gateway) == self.inputs


TestOutBucketMachine = OutBucketMachine.TestCase
TestOutBucketMachine.settings = settings(
    max_examples=budget(20, share=0.002),
    stateful_step_count=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
