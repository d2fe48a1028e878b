"""Safe YAML reading with source positions, a size limit and an alias-bomb guard.

We compose the node graph with PyYAML's SafeLoader (no object construction, no tags beyond the
standard ones) and build plain Python data ourselves, recording the line/column of every mapping
key and sequence item so validation errors can point at `file:line:column`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .errors import ErrorItem, UserError

MAX_BYTES = 2 * 1024 * 1024  # a policy or evidence file larger than this is refused
MAX_NODES = 200_000  # constructed nodes, counting alias expansions (billion-laughs guard)

Path_ = tuple[Any, ...]


@dataclass
class Located:
    """Parsed YAML data plus the (line, column) of each path in it (1-based)."""

    data: Any
    file: str
    positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: Path_) -> tuple[int | None, int | None]:
        """Position of `path`, or of its nearest ancestor that has one."""
        p = tuple(path)
        while p:
            if p in self.positions:
                return self.positions[p]
            p = p[:-1]
        return self.positions.get((), (None, None))


def read_text_limited(path: Path, what: str) -> str:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise UserError(f"{what} file not found: {path}") from None
    except OSError as exc:
        raise UserError(f"cannot read {what} file {path}: {exc.strerror}") from None
    if path.is_dir():
        raise UserError(f"{what} path {path} is a directory, expected a YAML file")
    if size > MAX_BYTES:
        raise UserError(
            f"{what} file {path} is {size} bytes; the limit is {MAX_BYTES} bytes",
        )
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{what} file {path} is not UTF-8 text ({exc.reason})") from None


def load_yaml(path: str | Path, what: str = "policy", text: str | None = None) -> Located:
    """Read a YAML file safely; raise UserError with file:line:col on malformed input."""
    p = Path(path)
    if text is None:
        text = read_text_limited(p, what)
    elif len(text.encode()) > MAX_BYTES:
        raise UserError(f"{what} text is larger than {MAX_BYTES} bytes")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        item = ErrorItem(
            message=f"malformed YAML: {exc.problem or exc}",
            file=str(p),
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        )
        raise UserError(f"cannot parse {what} file {p}", [item]) from None
    except yaml.YAMLError as exc:
        raise UserError(f"cannot parse {what} file {p}: {exc}") from None
    loc = Located(data=None, file=str(p))
    if node is None:
        return loc
    counter = [0]
    loc.data = _build(node, (), loc, counter, str(p), yaml.SafeLoader(""))
    return loc


def _build(
    node: yaml.Node,
    path: Path_,
    loc: Located,
    counter: list[int],
    file: str,
    scalars: yaml.SafeLoader,
) -> Any:
    counter[0] += 1
    if counter[0] > MAX_NODES:
        raise UserError(
            f"{file}: YAML expands to more than {MAX_NODES} nodes (alias bomb?); refused"
        )
    loc.positions.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise UserError(
                    f"{file}:{key_node.start_mark.line + 1}: YAML merge keys ('<<') are not "
                    "supported in mrm-gate files; write the keys out"
                )
            key = _build(key_node, path, Located(None, file), counter, file, scalars)
            if isinstance(key, (list, dict)):
                raise UserError(
                    f"{file}:{key_node.start_mark.line + 1}: a mapping key must be a scalar"
                )
            if key in out:
                raise UserError(
                    f"{file}:{key_node.start_mark.line + 1}:{key_node.start_mark.column + 1}: "
                    f"duplicate key {key!r}"
                )
            child = (*path, key)
            loc.positions[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = _build(value_node, child, loc, counter, file, scalars)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(item, (*path, i), loc, counter, file, scalars)
            for i, item in enumerate(node.value)
        ]
    # scalar: let the safe constructor resolve its type (int, float, bool, date, null, str)
    return scalars.construct_object(node, deep=True)


def format_path(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def pydantic_items(
    exc: ValidationError,
    loc: Located,
    prefix: tuple[Any, ...] = (),
    known_keys: list[str] | None = None,
) -> list[ErrorItem]:
    """Turn a pydantic ValidationError into located ErrorItems with suggestions."""
    items = []
    for err in exc.errors():
        path = (*prefix, *[p for p in err["loc"] if p not in ("function-after",)])
        line, col = loc.where(path)
        hint = None
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            key = str(path[-1])
            msg = f"unknown key {key!r}"
            close = difflib.get_close_matches(key, known_keys or [], n=1, cutoff=0.6)
            if close:
                hint = f"did you mean {close[0]!r}?"
        elif err["type"] == "missing":
            msg = f"required field {str(path[-1])!r} is missing"
        elif err["type"] == "literal_error":
            msg = f"{msg}, got {err.get('input')!r}"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        items.append(
            ErrorItem(message=msg, file=loc.file, line=line, column=col, path=format_path(path),
                      hint=hint)
        )
    return items
