"""A long-lived `aws` CLI process for the client suite: runs `aws ARGS` commands sent as JSON
lines on stdin and answers each with one JSON line (exit code, stdout, stderr) on stdout.

Why a worker: each command runs exactly what the `aws` script runs
(``awscli.clidriver.create_clidriver().main(argv)``: a new driver, session and clients per
command), in a process of its own that imported ``awscli`` first — so, as in the real CLI,
``botocore``/``s3transfer`` resolve to the copies vendored inside awscli (awscli >= 1.44
installs an import alias for them, which is also why it must never be imported into the
pytest process, where boto3 needs the real botocore). Starting the interpreter and loading
awscli once instead of per command makes the awscli battery 3-4 times faster.

Protocol: request ``{"argv": [...], "env": {...}}`` (the command's whole environment);
response ``{"code": int, "stdout": base64, "stderr": base64}``.
"""

# ruff: noqa: I001
from __future__ import annotations

import awscli  # noqa: F401  # first: installs the botocore/s3transfer alias, as `aws` does

import base64
import io
import json
import os
import sys
import traceback

from awscli.clidriver import create_clidriver


def serve() -> None:
    # `import awscli` put its command definitions on AWS_DATA_PATH; keep them there.
    data_path = os.environ.get("AWS_DATA_PATH", "")
    channel_in = sys.stdin.buffer
    channel_out = sys.stdout.buffer
    sys.stdin = open(os.devnull)  # noqa: SIM115  # commands never read the protocol channel
    for line in channel_in:
        request = json.loads(line)
        out, err = io.BytesIO(), io.BytesIO()
        stdout = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
        stderr = io.TextIOWrapper(err, encoding="utf-8", write_through=True)
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ["AWS_DATA_PATH"] = data_path
        sys.stdout, sys.stderr = stdout, stderr
        try:
            code = create_clidriver().main(request["argv"])
        except BaseException:  # SystemExit from argparse included
            traceback.print_exc()
            code = 255
        finally:
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
            for stream in (stdout, stderr):
                stream.flush()
                stream.detach()
        reply = {
            "code": code if isinstance(code, int) else 255,
            "stdout": base64.b64encode(out.getvalue()).decode(),
            "stderr": base64.b64encode(err.getvalue()).decode(),
        }
        channel_out.write(json.dumps(reply).encode() + b"\n")
        channel_out.flush()


if __name__ == "__main__":
    serve()
