"""ListObjects (V1 and V2) against a backend: the index walks that make one page.

The pure rules (markers, common prefixes, where the page stops) are ``core/listing/``'s; this
module only walks the backend's index for them, as the executor's ``ListFiles`` handler.
"""

from __future__ import annotations

from pachs3.backends.base import Backend
from pachs3.core.body import IncomingBody
from pachs3.core.listing import ListingBuilder
from pachs3.core.outcomes import Listed
from pachs3.core.plans import ListFiles
from pachs3.core.refs import FileInfo

__all__ = ["list_files"]

Body = IncomingBody


def list_files(listing: ListFiles, backend: Backend, body: Body) -> Listed:
    """Walk the index, folding keys into common prefixes; a folded prefix is skipped with a new
    index seek past it, so a delimiter listing costs O(page), not O(keys under the prefixes)."""
    builder = ListingBuilder(
        prefix=listing.prefix,
        delimiter=listing.delimiter,
        max_keys=listing.max_keys,
        start_after=listing.start_after,
    )
    files: list[FileInfo] = []
    start_after: str | None = listing.start_after
    while start_after is not None and not builder.done:
        start_after = walk_page(backend, listing, builder, files, start_after)
    return Listed(
        files=tuple(files),
        prefixes=tuple(builder.prefixes),
        truncated=builder.truncated,
        last=builder.last,
    )


def walk_page(
    backend: Backend,
    listing: ListFiles,
    builder: ListingBuilder,
    files: list[FileInfo],
    start_after: str,
) -> str | None:
    """One index walk; returns where the next walk must start, or None when the listing ends."""
    walk = backend.walk_files(listing.ref, prefix=listing.prefix, start_after=start_after)
    try:
        for info in walk:
            verdict = builder.offer(info.path)
            if verdict.kind == "content":
                files.append(info)
            elif verdict.kind == "stop":
                return None
            elif verdict.skip_after is not None:  # a folded prefix: seek past it
                return verdict.skip_after
        builder.finish()
        return None
    finally:
        close = getattr(walk, "close", None)
        if close is not None:
            close()
