"""The XML the core reads and writes, one job per module.

- ``parser.py``: the guarded parser (size cap, no DTD, bounded nesting); the only xmltodict user.
- ``request_bodies.py``: the request documents read (DeleteObjects, CompleteMultipartUpload).
- ``render.py``: response documents and the error document.
"""
