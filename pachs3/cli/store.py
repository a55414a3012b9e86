"""Putting files in and reading them back: ``put``, ``repos``, ``commits``, ``files``, ``cat``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pachs3.backends.base import DEFAULT_PROJECT
from pachs3.cli.common import (
    EXIT_OK,
    SHORT_ID,
    note,
    open_store,
    plural,
    resolve_commit,
    split_ref,
    table,
    time_text,
)
from pachs3.core.layout import STAGING_REPO
from pachs3.runner import commit_paths
from pachs3.runner.progress import ProgressReport

__all__ = ["register"]


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], store: argparse.ArgumentParser
) -> None:
    put = sub.add_parser(
        "put",
        parents=[store],
        help="commit local files to a repo",
        description="Commit files (by name) and directories (recursively, paths relative to "
        "the directory) as one commit over the branch head; prints the commit id. Files "
        "identical to the head's make no commit.",
    )
    put.add_argument("target", metavar="REPO[@BRANCH]")
    put.add_argument("paths", metavar="PATH", nargs="+", type=Path)
    put.set_defaults(command=_put)

    repos = sub.add_parser("repos", parents=[store], help="list repos")
    repos.add_argument(
        "--all", action="store_true", help="also list the gateway's internal staging repo"
    )
    repos.set_defaults(command=_repos)

    commits = sub.add_parser(
        "commits", parents=[store], help="list a repo's commits with provenance and errors"
    )
    commits.add_argument("repo", metavar="REPO")
    commits.add_argument("--branch", metavar="BRANCH", help="only commits of this branch")
    commits.set_defaults(command=_commits)

    files = sub.add_parser("files", parents=[store], help="list the files of a commit")
    files.add_argument("target", metavar="REPO[@COMMIT_OR_BRANCH]")
    files.add_argument("prefix", metavar="PREFIX", nargs="?", default="")
    files.set_defaults(command=_files)

    cat = sub.add_parser("cat", parents=[store], help="write a file of a commit to stdout")
    cat.add_argument("target", metavar="REPO[@COMMIT_OR_BRANCH]")
    cat.add_argument("path", metavar="PATH")
    cat.set_defaults(command=_cat)


def _put(args: argparse.Namespace) -> int:
    repo, branch = split_ref(args.target)
    progress = ProgressReport(sys.stderr, f"put {repo}@{branch}", terminal=sys.stderr.isatty())
    with open_store(args) as backend:
        done = commit_paths(backend, repo, branch, args.paths, progress=progress)
    what = f"{plural(done.files, 'file')} ({plural(done.size, 'byte')})"
    if done.unchanged:
        note(f"unchanged: {repo}@{branch} already holds the same {what}; no commit made")
    else:
        note(f"committed {what} to {repo}@{branch}")
    print(done.commit.id)
    return EXIT_OK


def _repos(args: argparse.Namespace) -> int:
    with open_store(args) as backend:
        rows = [("REPO", "CREATED", "BRANCHES", "DESCRIPTION")]
        for repo in sorted(backend.list_repos(), key=lambda r: r.name):
            if repo.name == STAGING_REPO and not args.all:
                continue  # where multipart parts wait; not data anyone committed
            branches = ", ".join(
                f"{b.name}@{b.head[:SHORT_ID] if b.head else '-'}"
                for b in sorted(backend.list_branches(repo.name), key=lambda b: b.name)
            )
            name = repo.name if repo.project == DEFAULT_PROJECT else f"{repo.project}/{repo.name}"
            rows.append((name, time_text(repo.created), branches or "-", repo.description))
    table(rows)
    return EXIT_OK


def _commits(args: argparse.Namespace) -> int:
    with open_store(args) as backend:
        backend.inspect_repo(args.repo)
        infos = backend.list_commits(args.repo, branch=args.branch)
    for info in infos:
        state = "open" if info.finished is None else f"finished {time_text(info.finished)}"
        if info.error:
            state += " FAILED"
        print(f"{info.id}  {info.branch or '-'}  started {time_text(info.started)}  {state}")
        if info.parent:
            print(f"    parent      {info.parent}")
        if info.provenance:
            print(f"    provenance  {', '.join(str(ref) for ref in info.provenance)}")
        if info.error:
            print(f"    error       {info.error}")
        if info.description:
            print(f"    description {info.description}")
    return EXIT_OK


def _files(args: argparse.Namespace) -> int:
    repo, ref = split_ref(args.target)
    count = 0
    with open_store(args) as backend:
        info = resolve_commit(backend, repo, ref)
        for file_info in backend.walk_files(info.ref, prefix=args.prefix):
            print(f"{file_info.size:>12}  {file_info.path}")
            count += 1
    if count == 0:
        under = f" under {args.prefix!r}" if args.prefix else ""
        note(f"{repo}@{info.id[:SHORT_ID]} has no files{under}")
    return EXIT_OK


def _cat(args: argparse.Namespace) -> int:
    repo, ref = split_ref(args.target)
    with open_store(args) as backend:
        info = resolve_commit(backend, repo, ref)
        stream = backend.read_file(info.ref, args.path)
        try:
            out = sys.stdout.buffer
            for chunk in stream:
                out.write(chunk)
            out.flush()
        finally:
            stream.close()
    return EXIT_OK
