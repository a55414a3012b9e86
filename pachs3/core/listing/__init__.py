"""Listing, all of it (ListObjects V1 and V2, and the paging of ListMultipartUploads).

- ``params.py``: the request's markers -> a ``ListFiles`` plan. V1 pages with ``marker``, V2
  with ``continuation-token`` (opaque, ours) or ``start-after``; the walk starts after the
  greatest of them. ``max-keys`` above 1000 is lowered to 1000, as AWS does.
- ``pages.py``: the fold of a sorted walk into one page (``ListingBuilder``: keys, common
  prefixes, where to seek past a folded prefix, where the page ends), continuation tokens, and
  the ``encoding-type=url`` spelling of keys.
- ``document.py``: the page as XML, with the next marker (V1 ``NextMarker``, V2
  ``NextContinuationToken``) taken from the page's last key or prefix.

``pachs3/listings.py`` walks the backend and feeds the fold; nothing else decides a
marker.
"""

from pachs3.core.listing.pages import (
    ListingBuilder,
    Verdict,
    decode_token,
    encode_key_url,
    encode_token,
    key_encoder,
    prefix_fence,
)

__all__ = [
    "ListingBuilder",
    "Verdict",
    "decode_token",
    "encode_key_url",
    "encode_token",
    "key_encoder",
    "prefix_fence",
]
