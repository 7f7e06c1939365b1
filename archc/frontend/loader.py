"""Strict YAML loading: safe composition only, positions kept for every node, budgets enforced.

PyYAML is used only to *compose* the node tree (no constructors run, so no tag can instantiate
anything). Values are then built here with YAML 1.2 core-schema scalars, which neutralises the
YAML 1.1 quirks that bite spec authors: ``1e-3`` is a float (not a string), ``no``/``on``/``yes``
stay strings, and duplicate keys are errors instead of silently winning.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..diagnostics import Diagnostic, SpecError

Loc = tuple[int, int, int, int]  # line, column, end line, end column (1-based)
PathT = tuple

_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"^[-+]?[0-9]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_SPECIAL_FLOAT = {".inf": float("inf"), "+.inf": float("inf"), "-.inf": float("-inf")}
_STD_TAGS = {
    "tag:yaml.org,2002:" + t for t in ("str", "int", "float", "bool", "null", "map", "seq")
}


@dataclass(frozen=True)
class Budget:
    """Caps applied before anything is allocated; all overridable from the CLI (the flag is
    the field's name: ``--max-layers``). The defaults keep every command on any spec within
    seconds and 2 GiB, far above every committed spec: the largest has 1,201 layers
    (efficientnet_b7), 138 M parameters (vgg16) and 4.05 GB of activations (b7 at 600x600).
    Building a live model costs about 0.3 ms per layer and 20 ns per parameter."""

    max_bytes: int = 4 * 1024 * 1024
    max_nodes: int = 200_000
    max_depth: int = 64
    max_layers: int = 10_000  # expanded layers (every primitive and block instance)
    max_params: int = 500_000_000  # 2 GB of float32 weights (ViT-L/16 has 304 M)
    max_activation_bytes: int = 8 * 1024**3  # float32 outputs of every layer, one sample


@dataclass
class Document:
    """A loaded YAML file: plain Python data plus the source position of every node."""

    path: str
    text: str
    data: object
    values: dict[PathT, Loc] = field(default_factory=dict)
    keys: dict[PathT, Loc] = field(default_factory=dict)
    origins: dict[PathT, str] = field(default_factory=dict)  # node -> file, where not `path`

    def loc(self, path: PathT, key: bool = False) -> Loc:
        """Position of the node at ``path`` (or of its key); falls back to the nearest parent."""
        return self._find(path, key)[1]

    def _find(self, path: PathT, key: bool) -> tuple[PathT, Loc]:
        table = self.keys if key else self.values
        p = tuple(path)
        while p:
            if p in table:
                return p, table[p]
            if not key and p in self.keys:
                return p, self.keys[p]
            p = p[:-1]
        return (), self.values.get((), (1, 1, 1, 2))

    def diag(self, path: PathT, message: str, code: str, hint: str | None = None,
             key: bool = False) -> Diagnostic:
        """A diagnostic pointing at the node at ``path``."""
        found, (line, col, eline, ecol) = self._find(path, key)
        return Diagnostic(
            file=self.origins.get(found, self.path), line=line, column=col, end_line=eline,
            end_column=ecol,
            message=message, code=code, hint=hint, spec_path=dotted(path),
        )


def dotted(path: PathT) -> str:
    """``('layers', 0, 'seq', 3, 'c')`` -> ``layers[0].seq[3].c``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _mark(node: yaml.Node) -> Loc:
    s, e = node.start_mark, node.end_mark
    return (s.line + 1, s.column + 1, e.line + 1, e.column + 1)


def _scalar(node: yaml.ScalarNode) -> object:
    value = node.value
    if node.style:  # quoted or block scalar: always a string (plain is None or "")
        return value
    if _NULL.match(value):
        return None
    if value in _BOOL:
        return _BOOL[value]
    if _INT.match(value):
        return int(value)
    if _FLOAT.match(value):
        return float(value)
    if value in _SPECIAL_FLOAT:
        return _SPECIAL_FLOAT[value]
    return value


class _Builder:
    def __init__(self, doc: Document, budget: Budget) -> None:
        self.doc, self.budget, self.count = doc, budget, 0

    def fail(self, node: yaml.Node, message: str, code: str, hint: str | None = None) -> SpecError:
        line, col, eline, ecol = _mark(node)
        return SpecError([Diagnostic(self.doc.path, line, col, message, code, hint=hint,
                                     end_line=eline, end_column=ecol)])

    def build(self, node: yaml.Node, path: PathT, depth: int) -> object:
        self.count += 1
        if self.count > self.budget.max_nodes:
            raise self.fail(node, f"document expands to more than {self.budget.max_nodes} nodes "
                            "(alias bomb or oversized spec)", "E005",
                            hint="raise the limit with --max-nodes if this is intended")
        if depth > self.budget.max_depth:
            raise self.fail(node, f"nesting deeper than {self.budget.max_depth} levels", "E005",
                            hint="raise the limit with --max-depth if this is intended")
        if node.tag not in _STD_TAGS:
            raise self.fail(node, f"YAML tag {node.tag!r} is not allowed in specs", "E004",
                            hint="specs use plain YAML values only")
        self.doc.values.setdefault(path, _mark(node))
        if isinstance(node, yaml.ScalarNode):
            return _scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        out: dict[str, object] = {}
        for knode, vnode in node.value:
            if knode.tag == "tag:yaml.org,2002:merge":
                raise self.fail(knode, "YAML merge keys ('<<') are not supported", "E004",
                                hint="use 'extends:' to build on another spec")
            if not isinstance(knode, yaml.ScalarNode):
                raise self.fail(knode, "mapping keys must be plain strings", "E004")
            key = knode.value
            if key in out:
                first = self.doc.keys[(*path, key)]
                raise self.fail(knode, f"duplicate key {key!r} (first defined on line {first[0]})",
                                "E003", hint="YAML would silently keep only the last value")
            self.doc.keys[(*path, key)] = _mark(knode)
            out[key] = self.build(vnode, (*path, key), depth + 1)
        return out


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _position(before: str) -> tuple[int, int]:
    """Line and column just after ``before``, counting line breaks as the source excerpt does
    (str.splitlines: \\r and NEL break lines too)."""
    parts = before.splitlines(keepends=True)
    if not parts or parts[-1].splitlines() != [parts[-1]]:
        return len(parts) + 1, 1  # at the start of a line
    return len(parts), len(parts[-1]) + 1


def load_text(text: str, path: str = "<string>", budget: Budget | None = None) -> Document:
    """Parse spec text into a :class:`Document`; raises :class:`SpecError` on any problem."""
    budget = budget or Budget()
    doc = Document(path=path, text=text, data=None)
    if len(text.encode("utf-8", "surrogatepass")) > budget.max_bytes:
        raise SpecError([Diagnostic(path, 1, 1, f"file is larger than {budget.max_bytes} bytes",
                                    "E005", hint="raise the limit with --max-bytes")])
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        lines = text.splitlines()
        if lines and line > len(lines):  # end of file: point just past the last line
            line, col = len(lines), len(lines[-1]) + 1
        msg = f"invalid YAML: {exc.problem or exc.context}"
        hint = None
        if 1 <= line <= len(lines) and "\t" in lines[line - 1][:col]:
            hint = "YAML does not allow tabs for indentation; use spaces"
        elif 1 <= line <= len(lines):
            hint = _indentation_hint(lines, line - 1, str(exc.problem or ""))
        raise SpecError([Diagnostic(path, line, col, msg, "E001", hint=hint)]) from None
    except yaml.reader.ReaderError as exc:  # control characters and the like
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        # The C reader counts bytes: find the character itself, and count lines the way the
        # source excerpt does (str.splitlines: \r, NEL and the like break lines too).
        line, col = _position(text[: max(text.find(char), 0)])
        raise SpecError([Diagnostic(path, line, col, f"invalid YAML: character {char!r} "
                                    "(U+%04X) is not allowed" % ord(char), "E001",
                                    hint="remove the control character")]) from None
    except yaml.YAMLError as exc:
        raise SpecError([Diagnostic(path, 1, 1, f"invalid YAML: {exc}", "E001")]) from None
    except RecursionError:
        raise SpecError([Diagnostic(path, 1, 1, "YAML nesting is too deep", "E005")]) from None
    if node is None:
        raise SpecError([Diagnostic(path, 1, 1, "spec file is empty", "E002",
                                    hint="a spec is a mapping with at least 'name', 'input' "
                                    "and 'layers'")])
    try:
        doc.data = _Builder(doc, budget).build(node, (), 0)
    except RecursionError:
        raise SpecError([Diagnostic(path, 1, 1, "YAML nesting is too deep", "E005")]) from None
    return doc


def spec_root(path: str | Path) -> Path:
    """The folder ``extends`` may reach from the spec at ``path``: its nearest ancestor holding
    ``pyproject.toml`` or ``.git`` (the project), else the spec's own folder."""
    folder = Path(os.path.abspath(path)).parent
    for d in (folder, *folder.parents):
        if (d / "pyproject.toml").exists() or (d / ".git").exists():
            return d
    return folder


def inside(path: str | Path, root: str | Path) -> bool:
    """Whether ``path`` resolves (symlinks followed) inside ``root``."""
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(root))


class NotRegularFile(OSError):
    """A FIFO, device, socket or directory where a spec file was expected."""


def read_regular(path: str | Path, max_bytes: int) -> bytes:
    """The bytes of a regular file, at most ``max_bytes`` (:class:`ValueError` past that).
    Anything else raises :class:`NotRegularFile` without blocking: the file is opened
    non-blocking (a FIFO would wait for a writer) and checked with ``fstat`` on the open
    descriptor; the size is counted while reading, never taken from ``st_size`` (``/proc``
    files report 0, ``/dev/zero`` never ends)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile(errno.EINVAL, "not a regular file")
        chunks, size = [], 0
        while chunk := os.read(fd, min(1 << 20, max_bytes + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                raise ValueError(f"larger than {max_bytes} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)


def excerpt_source(path: str) -> str | None:
    """The text a code frame may quote: a regular UTF-8 file that resolves inside its own
    spec root (a spec symlinked to a secret elsewhere is never quoted), else None."""
    try:
        if not inside(path, spec_root(path)):
            return None
        return read_regular(path, Budget.max_bytes).decode("utf-8")
    except (OSError, ValueError):
        return None


def load_file(path: str | Path, budget: Budget | None = None,
              display: str | None = None) -> Document:
    """Read and parse a spec file (UTF-8). Only regular files are read, and at most
    ``budget.max_bytes`` of them. ``display``: the path diagnostics name (default ``path``)."""
    budget = budget or Budget()
    name = display if display is not None else str(path)
    try:
        raw = read_regular(path, budget.max_bytes)
    except ValueError:
        raise SpecError([Diagnostic(name, 1, 1, f"file is larger than {budget.max_bytes} bytes",
                                    "E005", hint="raise the limit with --max-bytes")]) from None
    except NotRegularFile:
        raise SpecError([Diagnostic(name, 1, 1, "spec is not a regular file", "E006",
                                    hint="specs are read from regular files only")]) from None
    except OSError as exc:
        raise SpecError([Diagnostic(name, 1, 1, f"cannot read spec: {exc.strerror}",
                                    "E006")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _position(raw[: exc.start].decode("utf-8", errors="replace"))
        raise SpecError([Diagnostic(name, line, col, f"spec is not valid UTF-8 (byte "
                                    f"0x{raw[exc.start]:02x})", "E001",
                                    hint="save the file as UTF-8")]) from None
    return load_text(text, name, budget)


def _indentation_hint(lines: list[str], i: int, problem: str) -> str | None:
    """Most "did not find expected ..." errors in a spec are a line indented unlike its
    siblings: name the line above whose indentation it should share."""
    if not problem.startswith(("did not find expected key", "did not find expected '-'",
                               "mapping values are not allowed", "expected <block end>")):
        return None  # a flow collection's ',' or '}' is not about indentation
    here = len(lines[i]) - len(lines[i].lstrip(" "))
    for j in range(i - 1, -1, -1):
        text = lines[j].strip()
        if not text or text.startswith("#"):
            continue
        there = len(lines[j]) - len(lines[j].lstrip(" "))
        if there != here:
            return (f"check the indentation: this line starts at column {here + 1}, the line "
                    f"above ({j + 1}) at column {there + 1}; rows of one list, and keys of one "
                    "mapping, line up exactly")
        return None
    return None
