"""Wire compatibility of python-pachyderm's PFS (and transaction) protocol with a pachd release's
own .proto.

PachydermBackend speaks PFS v2 through python-pachyderm's generated ``pfs_pb2``. A pachd built
from another release may have renumbered or retyped a field, or renamed an RPC; protobuf would
then drop or misread data silently. This compares, for every PFS and transaction RPC the
backend calls (found by scanning ``pachs3/backends/pachyderm*`` for the API's method names),
the method's request
and response types and streaming flags, and every message and enum reachable from them, field
by field (number, name, type, label), between python-pachyderm's descriptors and the
descriptor set ``protoc`` builds from the Go module's ``src/pfs/pfs.proto`` and
``src/transaction/transaction.proto``. Messages reached only through a field one side lacks are
not compared (that field is never on the wire between them).

    python wire_check.py PFS_DESCRIPTOR_SET   # exit 1 on an incompatibility

Incompatible: a missing RPC or message, another request/response type or streaming flag, a field
number with another type or label. Listed but not incompatible: fields on one side only (proto3
skips unknown fields; one that only python-pachyderm has is ignored by pachd if pachs3 sets it) and
fields renamed at the same number (the same bytes, perhaps another meaning: check pachs3 never sets
them).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import descriptor_pb2
from python_pachyderm.proto.v2.pfs import pfs_pb2
from python_pachyderm.proto.v2.transaction import transaction_pb2

BACKEND_SOURCES = Path(__file__).resolve().parents[3] / "pachs3" / "backends"
SERVICES = ("pfs_v2.API", "transaction_v2.API")
"""The backend calls PFS, and the transaction API's BatchTransaction (provenance route)."""


@dataclass
class Report:
    incompatible: list[str] = field(default_factory=list)
    python_only: list[str] = field(default_factory=list)
    pachd_only: list[str] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)


def used_methods(names: set[str]) -> list[str]:
    """The API methods (``service/Method``) whose names appear as string literals or attributes
    in the backend."""
    found: set[str] = set()
    for source in sorted(BACKEND_SOURCES.glob("pachyderm*")):
        files = source.rglob("*.py") if source.is_dir() else [source]
        for path in files:
            text = path.read_text()
            found.update(re.findall(r"""["'.]([A-Z][A-Za-z]+)\b""", text))
    return sorted(name for name in names if name.split("/", 1)[1] in found)


def _proto_of(message: object) -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto()
    message.CopyToProto(proto)  # type: ignore[attr-defined]
    return proto


class Catalogue:
    """Messages, enums and methods of a set of FileDescriptorProtos, by full name."""

    def __init__(self, files: list[descriptor_pb2.FileDescriptorProto]) -> None:
        self.messages: dict[str, descriptor_pb2.DescriptorProto] = {}
        self.enums: dict[str, descriptor_pb2.EnumDescriptorProto] = {}
        self.methods: dict[str, descriptor_pb2.MethodDescriptorProto] = {}
        for proto in files:
            prefix = f".{proto.package}" if proto.package else ""
            for message in proto.message_type:
                self._add_message(prefix, message)
            for enum in proto.enum_type:
                self.enums[f"{prefix}.{enum.name}"] = enum
            for service in proto.service:
                qualified = f"{proto.package}.{service.name}"
                if qualified in SERVICES:
                    for method in service.method:
                        self.methods[f"{qualified}/{method.name}"] = method

    def _add_message(self, prefix: str, message: descriptor_pb2.DescriptorProto) -> None:
        name = f"{prefix}.{message.name}"
        self.messages[name] = message
        for nested in message.nested_type:
            self._add_message(name, nested)
        for enum in message.enum_type:
            self.enums[f"{name}.{enum.name}"] = enum


def python_catalogue() -> Catalogue:
    files: dict[str, descriptor_pb2.FileDescriptorProto] = {}
    pending = [pfs_pb2.DESCRIPTOR, transaction_pb2.DESCRIPTOR]
    while pending:
        descriptor = pending.pop()
        if descriptor.name in files:
            continue
        files[descriptor.name] = _proto_of(descriptor)
        pending.extend(descriptor.dependencies)
    return Catalogue(list(files.values()))


def pachd_catalogue(descriptor_set: Path) -> Catalogue:
    parsed = descriptor_pb2.FileDescriptorSet()
    parsed.ParseFromString(descriptor_set.read_bytes())
    return Catalogue(list(parsed.file))


def _wire_shape(item: descriptor_pb2.FieldDescriptorProto) -> tuple[object, ...]:
    """What decides the bytes on the wire: type, message/enum type, label (the name does not)."""
    return (item.type, item.type_name, item.label)


def _reachable(catalogue: Catalogue, roots: list[str], other: Catalogue) -> Iterator[str]:
    """Messages reachable from ``roots`` through fields both sides have (a field only one side
    has is never on the wire between them, so neither is the message it holds)."""
    seen: set[str] = set()
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in seen or name not in catalogue.messages:
            continue
        seen.add(name)
        yield name
        theirs = other.messages.get(name)
        shared = {f.number for f in theirs.field} if theirs is not None else set()
        for item in catalogue.messages[name].field:
            if item.type_name and item.number in shared:
                pending.append(item.type_name)


def compare(python: Catalogue, pachd: Catalogue, methods: list[str]) -> Report:
    report = Report()
    roots: list[str] = []
    for name in methods:
        ours, theirs = python.methods.get(name), pachd.methods.get(name)
        if theirs is None or ours is None:
            report.incompatible.append(f"rpc {name}: missing in {'pachd' if ours else 'python'}")
            continue
        shape = ("input_type", "output_type", "client_streaming", "server_streaming")
        for attribute in shape:
            if getattr(ours, attribute) != getattr(theirs, attribute):
                report.incompatible.append(
                    f"rpc {name}.{attribute}: python {getattr(ours, attribute)!r}"
                    f" != pachd {getattr(theirs, attribute)!r}"
                )
        roots += [ours.input_type, ours.output_type]
    enums: set[str] = set()
    for name in _reachable(python, roots, pachd):
        theirs_message = pachd.messages.get(name)
        if theirs_message is None:
            report.incompatible.append(f"message {name}: missing in pachd")
            continue
        ours_fields = {f.number: f for f in python.messages[name].field}
        theirs_fields = {f.number: f for f in theirs_message.field}
        for number in sorted(ours_fields.keys() | theirs_fields.keys()):
            ours_field, theirs_field = ours_fields.get(number), theirs_fields.get(number)
            where = f"{name}#{number}"
            if theirs_field is None:
                report.python_only.append(f"{where} {ours_field.name}")  # type: ignore[union-attr]
            elif ours_field is None:
                report.pachd_only.append(f"{where} {theirs_field.name}")
            elif _wire_shape(ours_field) != _wire_shape(theirs_field):
                report.incompatible.append(
                    f"{where} {ours_field.name}: python {_wire_shape(ours_field)}"
                    f" != pachd {theirs_field.name} {_wire_shape(theirs_field)}"
                )
            elif ours_field.name != theirs_field.name:
                report.renamed.append(
                    f"{where}: python {ours_field.name}, pachd {theirs_field.name}"
                )
            elif ours_field.type == ours_field.TYPE_ENUM:
                enums.add(ours_field.type_name)
    for name in sorted(enums):
        ours_values = {v.number: v.name for v in python.enums[name].value}
        theirs_enum = pachd.enums.get(name)
        theirs_values = {v.number: v.name for v in theirs_enum.value} if theirs_enum else {}
        if ours_values != theirs_values:
            report.incompatible.append(
                f"enum {name}: python {ours_values} != pachd {theirs_values}"
            )
    return report


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    python, pachd = python_catalogue(), pachd_catalogue(Path(argv[1]))
    methods = used_methods(set(python.methods))
    report = compare(python, pachd, methods)
    print(f"RPCs the backend calls ({len(methods)}): {', '.join(methods)}")
    print(f"fields only python-pachyderm has (pachd ignores them): {report.python_only or 'none'}")
    print(f"fields only pachd has (python-pachyderm ignores them): {report.pachd_only or 'none'}")
    renamed = report.renamed or "none"
    print(f"same wire shape, another name (same bytes, maybe another meaning): {renamed}")
    for problem in report.incompatible:
        print(f"INCOMPATIBLE {problem}")
    verdict = "incompatible" if report.incompatible else "compatible"
    print(f"wire check: {verdict} ({len(report.incompatible)} problem(s))")
    return 1 if report.incompatible else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
