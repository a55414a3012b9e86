"""Global gateway bucket names: `[commit.][branch.]repo[.project]`, as Pachyderm names them.

Pachyderm's global gateway (``driver.go``, reference/pachyderm-s3.md §2a) splits a bucket name on
dots: a leading part that looks like a commit id pins the bucket to that commit (read-only);
then one part is ``repo`` (branch ``master``, project ``default``), two are ``branch.repo`` and
three ``branch.repo.project``. Dots are unambiguous because PFS names hold only
``[A-Za-z0-9_-]``. ListBuckets spells every branch in the three-part form.

Two checks, for two audiences:

- ``parse_bucket_name`` (every request): what the name means, or 400 InvalidBucketName for a name
  that cannot address anything (``..``, empty parts, characters PFS never holds, too many parts,
  longer than 255). Mixed case and ``_`` pass, as in Pachyderm: existing repos may be named so.
- ``check_new_bucket_name`` (CreateBucket only): AWS's rules on top (3-63 characters of
  lowercase letters, digits, ``.`` and ``-``, starting and ending with a letter or digit, not
  IP-shaped, no reserved prefix or suffix), since a client that made such a bucket could not use
  it on AWS, and the PFS-only refusals with a message that says why (a pinned commit cannot be
  created, a project other than ``default`` does not exist in a pachs3 store).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pachs3.core import errors
from pachs3.defaults import DEFAULT_BRANCH, DEFAULT_PROJECT

MAX_NAME_LENGTH = 255
"""Pachyderm's s2 router accepts bucket segments of 1-255 characters; longer is not a bucket."""

_PFS_PART = re.compile(r"[A-Za-z0-9_-]+")
_COMMIT_ID = re.compile(r"[0-9a-f]{12}4[0-9a-f]{19}")
"""A dash-less UUIDv4, which is how Pachyderm tells a leading commit id from a branch name."""

# AWS "General purpose bucket naming rules" (the ones a name made of PFS parts can break).
_AWS_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP_SHAPED = re.compile(r"\d{1,3}(\.\d{1,3}){3}")
_AWS_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_AWS_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


@dataclass(frozen=True, slots=True, kw_only=True)
class BucketName:
    """What a global bucket name addresses."""

    repo: str
    branch: str = DEFAULT_BRANCH
    project: str = DEFAULT_PROJECT
    commit: str | None = None
    """Set: the bucket is pinned to this commit and read-only."""


def listed_name(repo: str, branch: str, project: str = DEFAULT_PROJECT) -> str:
    """The three-part form ListBuckets uses for every branch."""
    return f"{branch}.{repo}.{project}"


def parse_bucket_name(name: str) -> BucketName:
    """What ``name`` addresses; InvalidBucketName when it cannot address anything."""
    if len(name) > MAX_NAME_LENGTH:
        raise _invalid(name[:64] + "...", f"longer than {MAX_NAME_LENGTH} characters")
    parts = name.split(".")
    if not all(_PFS_PART.fullmatch(part) for part in parts):
        raise _invalid(
            name,
            "every dot-separated part must be a PFS name: letters, digits, '_' and '-' "
            "(no empty part, no '..')",
        )
    commit = parts.pop(0) if len(parts) > 1 and _COMMIT_ID.fullmatch(parts[0]) else None
    if len(parts) > 3:
        raise _invalid(name, "a bucket is [commit.][branch.]repo[.project]: too many parts")
    if len(parts) == 1:
        return BucketName(repo=parts[0], commit=commit)
    if len(parts) == 2:
        return BucketName(branch=parts[0], repo=parts[1], commit=commit)
    return BucketName(branch=parts[0], repo=parts[1], project=parts[2], commit=commit)


def check_new_bucket_name(name: str) -> BucketName:
    """``parse_bucket_name`` plus AWS's naming rules and what a pachs3 store can create."""
    parsed = parse_bucket_name(name)
    if not _AWS_NAME.fullmatch(name):
        raise _invalid(
            name,
            "S3 bucket names are 3-63 characters of lowercase letters, digits, '.' and '-', "
            "starting and ending with a letter or digit",
        )
    if _IP_SHAPED.fullmatch(name):
        raise _invalid(name, "S3 bucket names must not be formatted as an IP address")
    if name.startswith(_AWS_RESERVED_PREFIXES) or name.endswith(_AWS_RESERVED_SUFFIXES):
        raise _invalid(name, "the name uses a prefix or suffix S3 reserves")
    if parsed.commit is not None:
        raise _invalid(name, "a bucket pinned to a commit is read-only and cannot be created")
    if parsed.project != DEFAULT_PROJECT:
        raise _invalid(
            name, f"this store has only the project {DEFAULT_PROJECT!r}; use branch.repo.default"
        )
    return parsed


def _invalid(name: str, why: str) -> errors.S3Error:
    return errors.InvalidBucketName(
        f"The specified bucket is not valid: {why}.", resource=f"/{name}"
    )
