"""pachs3 beside moto and beside the machine's ceilings: ``python -m benchmarks``.

Every workload runs pachs3 and its peers in the same process run, with the same boto3 client
configuration, interleaved round by round (A, B, A, B, ...) so that load from whatever else the
machine is doing falls on both; figures are medians over rounds and ratios are medians of the
per-round ratios (each taken from two measurements made seconds apart).

Peers:

* ``floor``   -- the client alone: the same boto3 calls answered by a canned reply from a
  ``before-send`` hook (what the client costs; nothing can be faster in-process);
* ``ceiling`` -- a bare Starlette app on the same ``ThreadedServer`` answering with canned bytes
  (what uvicorn + Starlette + the client cost over loopback), and for large GETs a static file
  server on loopback;
* ``moto``    -- moto's ``mock_aws`` in-process, and its threaded server over HTTP.

Workloads (one module each): ``small`` (4 KiB PUT/GET/HEAD), ``listing`` (ListObjectsV2,
delimiter listing), ``large`` (1 GiB upload/download with server memory), ``flat``
(CopyObject and CompleteMultipartUpload cost as the object grows). Results go to
``benchmarks/results/*.json``; ``docs/benchmarks.md`` and ``docs/benchmarks.png`` are rendered
from them (``benchmarks.report``, ``benchmarks.plot``).
"""
