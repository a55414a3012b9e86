#!/usr/bin/env bash
# The package as a user gets it: `python -m build` makes an sdist and a wheel (the wheel is built
# from the sdist, so a file missing from the sdist breaks it), then each is installed in a fresh
# venv with the pip that Python ships and used: the CLI, and the library serving boto3 over HTTP.
#   .ci/check_package.sh PYTHON_WITH_BUILD      (CI passes the dev venv's python)
set -euo pipefail
cd "$(dirname "$0")/.."
builder=${1:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$builder" -m build --outdir "$work/dist" . >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
wheel=$(ls "$work"/dist/pachs3-*.whl)
sdist=$(ls "$work"/dist/pachs3-*.tar.gz)
echo "built $(basename "$sdist") and $(basename "$wheel")"

python3 - "$wheel" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
assert "pachs3/py.typed" in names, "the wheel lacks py.typed"
assert not [n for n in names if n.startswith(("tests/", "benchmarks/"))], "tests shipped in the wheel"
assert any(n.endswith("entry_points.txt") for n in names), "no console script"
print(f"wheel: {len(names)} files, py.typed, entry points, no tests")
PY

smoke() {  # $1: a venv with pachs3[server,boto] installed
  local venv=$1 store
  store=$(mktemp -d)
  printf 'a,b\n1,2\n' >"$store/in.csv"
  "$venv/bin/pachs3" --help >/dev/null
  "$venv/bin/pachs3" put --store "$store/s" data@master "$store/in.csv" >/dev/null
  "$venv/bin/pachs3" files --store "$store/s" data | grep -q in.csv
  "$venv/bin/python" - "$store/s" <<'PY'
import sys
import boto3
from pachs3 import LocalStore, SidecarGateway
with SidecarGateway(LocalStore(sys.argv[1]), inputs={"data": "data@master"}, output="job") as gw:
    with gw.serve() as server:
        s3 = boto3.client("s3", endpoint_url=server.endpoint_url, region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="x")
        body = s3.get_object(Bucket="data", Key="in.csv")["Body"].read()
        s3.put_object(Bucket="out", Key="copy.csv", Body=body)
        assert s3.get_object(Bucket="out", Key="copy.csv")["Body"].read() == b"a,b\n1,2\n"
print("served boto3 over HTTP from the installed package")
PY
  rm -rf "$store"
}

for artifact in "$wheel" "$sdist"; do
  venv="$work/venv-$(basename "$artifact")"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -c constraints.txt "pachs3[server,boto] @ file://$artifact"
  smoke "$venv"
  echo "ok: $(basename "$artifact") installs and runs in a fresh venv"
done
