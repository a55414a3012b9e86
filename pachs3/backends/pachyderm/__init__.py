"""PachydermBackend: the backend protocols over a real Pachyderm 2.x cluster (pachd over gRPC).

This is the only pachs3 module that imports ``grpc`` and ``python_pachyderm``. It speaks the PFS
v2 API through python-pachyderm's generated protocol (``pfs_pb2`` / ``pfs_pb2_grpc``) on a
channel of its own, not through ``python_pachyderm.Client``'s methods: those set no deadlines
(an unreachable cluster would hang a request) and their file reader swallows gRPC errors (a
broken read would look like a short object). Every gRPC error is translated once, in
``_translate``, into the backend error family.

How the backend contract maps onto PFS (details in ``docs/pachyderm.md``):

- Commits: each commit is started on a hidden branch of its own (``pachs3_commit_<nonce>``)
  with its parent given explicitly, and the target branch is moved to it when it is finished
  without an error. An empty commit with a parent is emptied with ``DeleteFile("/")``, never
  ``ClearCommit`` (which drops only the commit's own writes).
- Provenance: PFS 2.x gives a commit the provenance of its branch when it makes it; no RPC
  sets it per commit. When every input is its branch's head, the commit is opened through a
  hidden branch given the inputs' branches as provenance and then none, in one pachd
  transaction, so it has real PFS ``direct_provenance``; otherwise (an input pinned below its
  branch's head, the transaction refused, an input that moved meanwhile) the provenance is only
  noted in the commit description. The note says which route was taken (``provenance``).
- A branch's head, as this backend reports it, is its newest finished commit without an error;
  the empty commit PFS 2.x creates for a new branch counts as no head.
- Keys: ``/`` + the key, refused (``NotSupported``) when pachd refuses the name, when PFS would
  clean it into another path, or when PFS could not hold it next to an existing file.
- ETags: MD5 for objects written through the gateway, kept in a record written in the same
  ModifyFile as the object; PFS's own hash for files written by other means. What the backend
  wrote to a commit it owns is remembered, so a PUT there costs one RPC.
- Inside a pipeline worker (``s3_out`` pipelines only) the job's output commit belongs to
  Pachyderm: ``adopt`` it; it is never cleared, and finishing it is left to the worker.

Modules, one job each: ``connection`` (where pachd is, credentials), ``rpc`` (channel, calls,
error translation), ``repos`` (repos, branches, heads), ``provenance`` (the hidden-branch
route), ``commits`` (commits, adoption, finishing), ``reads`` (reads and listing), ``writes``
(writes and records), ``known`` (what was written to owned commits), ``paths`` (key rules),
``records`` (record and note formats), ``backend`` (the whole, and its construction from the
environment).
"""

from .backend import PachydermBackend

__all__ = ["PachydermBackend"]
