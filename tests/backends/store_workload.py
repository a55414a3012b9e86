"""Self-checking write workloads for the local-store crash and concurrency tests.

Every file written here carries, in its metadata, the *tokens* its bytes are generated from
(``token:size`` pairs; composed files list several). So any file found in the store, in any
commit, can be verified byte for byte without knowing who wrote it: a torn or partial file cannot
pass. Writers also report each finished commit's full view (path -> SHA-256) to a file, one JSON
line per commit, fsynced, so a test can check that every acknowledged commit survived exactly.

Run as a script, it is the child process of those tests::

    python store_workload.py crash-writer STORE REPORT SEED DURABILITY   (loops until killed)
    python store_workload.py load-writer STORE REPORT SEED BRANCH COMMITS
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pachs3.backends import CommitRef, LocalStore, NotFound

TOKENS = "x-amz-meta-tokens"
REPO = "work"
SIZES = [0, 1, 100, 5000, 70_000, 300_000, 1_200_000]
PATHS = 12
_BLOCK = 65536

Parts = tuple[tuple[str, int], ...]


def content(token: str, size: int) -> Iterator[bytes]:
    """Deterministic bytes for a token, in 64 KiB chunks."""
    seed = hashlib.sha256(token.encode()).digest()
    for start in range(0, size, _BLOCK):
        block = hashlib.sha256(seed + start.to_bytes(8, "big")).digest() * (_BLOCK // 32)
        yield block[: min(_BLOCK, size - start)]


def metadata(parts: Parts) -> dict[str, str]:
    return {TOKENS: ",".join(f"{token}:{size}" for token, size in parts)}


def parse(meta: Any) -> Parts:
    text = meta.get(TOKENS, "")
    if not text:
        return ()
    pairs = (item.rsplit(":", 1) for item in text.split(","))
    return tuple((token, int(size)) for token, size in pairs)


_digests: dict[Parts, str] = {}


def expected_digest(parts: Parts) -> str:
    if parts not in _digests:
        sha = hashlib.sha256()
        for token, size in parts:
            for chunk in content(token, size):
                sha.update(chunk)
        _digests[parts] = sha.hexdigest()
    return _digests[parts]


def stream_digest(chunks: Iterable[bytes]) -> str:
    sha = hashlib.sha256()
    for chunk in chunks:
        sha.update(chunk)
    return sha.hexdigest()


def verify_commit(
    store: LocalStore, ref: CommitRef, seen: dict[object, str] | None = None
) -> dict[str, str]:
    """Check every file of a commit against its tokens; return its view (path -> sha256).

    With ``seen``, a file entry already read (same path, writer commit, time, size and etag,
    i.e. the same entry inherited by a later commit) is not read again.
    """
    view: dict[str, str] = {}
    for info in store.walk_files(ref):
        parts = parse(info.metadata)
        assert info.size == sum(size for _, size in parts), info
        key = (info.path, info.commit, info.modified, info.size, info.etag)
        if seen is not None and key in seen:
            view[info.path] = seen[key]
            continue
        digest = stream_digest(store.read_file(ref, info.path))
        if seen is not None:
            seen[key] = digest
        assert digest == expected_digest(parts), f"{ref} {info.path}: bytes differ from tokens"
        view[info.path] = digest
    return view


def read_reports(path: Path) -> list[dict[str, Any]]:
    """The complete lines of a report (a line cut short by a kill is not a report)."""
    if not path.exists():
        return []
    lines = path.read_text().split("\n")
    return [json.loads(line) for line in lines[:-1] if line]


# --------------------------------------------------------------------------------------------
# Writing


class Writer:
    """Commits of random puts, deletes, copies and composes on one branch, with a model."""

    def __init__(self, store: LocalStore, seed: str, branch: str, *, big: bool = True) -> None:
        self.store = store
        self.seed = seed
        self.branch = branch
        self.rng = random.Random(seed)
        self.sizes = SIZES if big else SIZES[:-1]
        self.counter = 0
        self.model: dict[str, Parts] = self._load_head()

    def _load_head(self) -> dict[str, Parts]:
        try:
            head = self.store.inspect_commit(REPO, self.branch)
        except NotFound:
            return {}
        return {i.path: parse(i.metadata) for i in self.store.walk_files(head.ref)}

    def commit(self) -> tuple[str, dict[str, str]]:
        """One finished commit; returns its id and its expected view."""
        info = self.store.start_commit(REPO, self.branch)
        model = dict(self.model)
        for _ in range(self.rng.randint(1, 6)):
            self._operation(info.ref, model)
        self.store.finish_commit(REPO, info.id)
        self.model = model
        return info.id, {path: expected_digest(parts) for path, parts in model.items()}

    def _operation(self, ref: CommitRef, model: dict[str, Parts]) -> None:
        rng = self.rng
        path = f"p{rng.randrange(PATHS):02d}"
        choice = rng.random()
        if choice < 0.6 or not model:
            self.counter += 1
            parts: Parts = ((f"{self.seed}.{self.counter}", rng.choice(self.sizes)),)
            self.store.put_file(ref, path, content(*parts[0]), metadata=metadata(parts))
            model[path] = parts
        elif choice < 0.75:
            self.store.delete_file(ref, path)
            model.pop(path, None)
        elif choice < 0.87:
            source = rng.choice(sorted(model))
            self.store.copy_file(ref, source, ref, path)
            model[path] = model[source]
        else:
            sources = [rng.choice(sorted(model)) for _ in range(rng.randint(1, 3))]
            parts = tuple(part for source in sources for part in model[source])
            self.store.compose_file(
                ref, path, [(ref, s) for s in sources], etag="composed", metadata=metadata(parts)
            )
            model[path] = parts


def report(out: Any, commit_id: str, view: dict[str, str]) -> None:
    out.write(json.dumps({"id": commit_id, "files": view}) + "\n")
    out.flush()
    os.fsync(out.fileno())


def crash_writer(store_path: str, report_path: str, seed: str, durability: str) -> None:
    store = LocalStore(store_path, durability=durability)  # type: ignore[arg-type]
    store.create_repo(REPO, exist_ok=True)
    # Commits a killed predecessor left open are abandoned work: throw them away.
    for info in store.list_commits(REPO):
        if info.is_open:
            store.discard_commit(REPO, info.id)
    writer = Writer(store, seed, "master")
    print("ready", flush=True)
    with open(report_path, "a") as out:
        while True:
            commit_id, view = writer.commit()
            report(out, commit_id, view)


def load_writer(store_path: str, report_path: str, seed: str, branch: str, commits: int) -> None:
    store = LocalStore(store_path)
    store.create_repo(REPO, exist_ok=True)
    writer = Writer(store, seed, branch, big=False)
    with open(report_path, "a") as out:
        for _ in range(commits):
            commit_id, view = writer.commit()
            report(out, commit_id, view)
    store.close()


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "crash-writer":
        crash_writer(*args)
    elif mode == "load-writer":
        load_writer(args[0], args[1], args[2], args[3], int(args[4]))
    else:
        raise SystemExit(f"unknown mode {mode}")
