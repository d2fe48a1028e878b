"""Safe YAML reading with source positions, a size limit, a depth limit and an alias-bomb guard.

We compose the node graph with PyYAML's safe loader (libyaml's C parser when it is available: it
is several times faster and caps nesting itself; no object construction, no tags beyond the
standard ones) and build plain Python data ourselves, recording the line/column of every mapping
key and sequence item so validation errors can point at `file:line:column`.

Everything a file can do wrong is a `UserError` with its location, never a Python exception:
nesting deeper than `MAX_DEPTH` (Python's recursion limit would otherwise end the program), a
scalar the standard constructors cannot build (`2027-02-30`, an int of 5,000 digits), an
unknown tag. YAML 1.1 reads the mapping keys `on`/`off`/`yes`/`no` as booleans; a key is a name,
so a key that resolves to a boolean keeps its text (`on: upper` has the key `"on"`).
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
MAX_DEPTH = 100  # nesting of mappings/sequences; real policies and evidence use fewer than 10

# libyaml's parser when PyYAML was built with it; the pure-Python one otherwise (same results).
_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_STR_TAG = "tag:yaml.org,2002:str"

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


def _too_deep(file: str, line: int | None, column: int | None) -> UserError:
    return UserError(f"cannot read YAML file {file}", [ErrorItem(
        f"nested deeper than {MAX_DEPTH} levels; refused", file, line, column,
        hint="flatten the structure")])


def _check_depth(text: str, file: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH before the recursive composer sees it.

    The event stream is produced by an iterative state machine, so this scan cannot overflow
    the stack; only needed with the pure-Python loader (libyaml caps nesting itself).
    """
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                mark = event.start_mark
                raise _too_deep(file, mark.line + 1, mark.column + 1)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def load_yaml(path: str | Path, what: str = "policy", text: str | None = None) -> Located:
    """Read a YAML file safely; raise UserError with file:line:col on malformed input."""
    p = Path(path)
    if text is None:
        text = read_text_limited(p, what)
    elif len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise UserError(f"{what} text is larger than {MAX_BYTES} bytes")
    loader = _LOADER
    try:
        if loader is yaml.SafeLoader:
            _check_depth(text, str(p))
        node = yaml.compose(text, Loader=loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        if "maximum nesting depth" in str(exc.problem):  # libyaml's own cap (1000 levels)
            raise _too_deep(str(p), line, column) from None
        item = ErrorItem(
            message=f"malformed YAML: {exc.problem or exc}",
            file=str(p),
            line=line,
            column=column,
        )
        raise UserError(f"cannot parse {what} file {p}", [item]) from None
    except yaml.YAMLError as exc:
        raise UserError(f"cannot parse {what} file {p}: {exc}") from None
    except RecursionError:  # backstop; _check_depth / libyaml refuse deep nesting first
        raise _too_deep(str(p), None, None) from None
    except UnicodeEncodeError as exc:  # lone surrogates given as text
        raise UserError(f"{what} text {p} is not valid Unicode ({exc.reason})") from None
    loc = Located(data=None, file=str(p))
    if node is None:
        return loc
    counter = [0]
    loc.data = _build(node, (), loc, counter, str(p), yaml.SafeLoader(""), 0)
    return loc


def _refuse(file: str, node: yaml.Node, message: str) -> UserError:
    line, col = node.start_mark.line + 1, node.start_mark.column + 1
    return UserError(f"cannot read YAML file {file}", [ErrorItem(message, file, line, col)])


def _scalar(node: yaml.Node, file: str, scalars: yaml.SafeLoader) -> Any:
    """The value of a scalar node, by the safe constructors; a bad one is a located UserError."""
    if node.tag == _STR_TAG:  # most scalars; the constructor would return the text as is
        return node.value
    try:
        return scalars.construct_object(node, deep=True)
    except yaml.constructor.ConstructorError as exc:
        raise _refuse(file, node, f"{exc.problem}") from None
    except (ValueError, TypeError, OverflowError) as exc:
        kind = node.tag.rsplit(":", 1)[-1]
        shown = node.value if len(node.value) <= 40 else node.value[:40] + "..."
        why = "too many digits" if kind == "int" else str(exc)
        raise _refuse(file, node, f"invalid {kind} {shown!r}: {why}") from None


def _build(
    node: yaml.Node,
    path: Path_,
    loc: Located,
    counter: list[int],
    file: str,
    scalars: yaml.SafeLoader,
    depth: int,
) -> Any:
    counter[0] += 1
    if counter[0] > MAX_NODES:
        raise UserError(
            f"{file}: YAML expands to more than {MAX_NODES} nodes (alias bomb?); refused"
        )
    if depth > MAX_DEPTH:  # also bounds alias chains, which the composer does not see as depth
        raise _too_deep(file, node.start_mark.line + 1, node.start_mark.column + 1)
    loc.positions.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        if node.tag != _MAP_TAG:
            raise _refuse(file, node, f"YAML tag {node.tag!r} is not supported in mrm-gate files")
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise UserError(
                    f"{file}:{key_node.start_mark.line + 1}: YAML merge keys ('<<') are not "
                    "supported in mrm-gate files; write the keys out"
                )
            if not isinstance(key_node, yaml.ScalarNode):
                raise UserError(
                    f"{file}:{key_node.start_mark.line + 1}: a mapping key must be a scalar"
                )
            counter[0] += 1
            # A key is a name: YAML 1.1's `on`/`off`/`yes`/`no` keep their text.
            key = key_node.value if key_node.tag == _BOOL_TAG else _scalar(
                key_node, file, scalars)
            if key in out:
                raise UserError(
                    f"{file}:{key_node.start_mark.line + 1}:{key_node.start_mark.column + 1}: "
                    f"duplicate key {key!r}"
                )
            child = (*path, key)
            loc.positions[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = _build(value_node, child, loc, counter, file, scalars, depth + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        if node.tag != _SEQ_TAG:
            raise _refuse(file, node, f"YAML tag {node.tag!r} is not supported in mrm-gate files")
        return [
            _build(item, (*path, i), loc, counter, file, scalars, depth + 1)
            for i, item in enumerate(node.value)
        ]
    # scalar: let the safe constructor resolve its type (int, float, bool, date, null, str)
    return _scalar(node, file, scalars)


def not_finite_message(v: Any) -> str:
    """The one wording for a number that is not a finite real (shared by every validator)."""
    if isinstance(v, float) and v != v:
        shown = ".nan"
    elif isinstance(v, float) and v in (float("inf"), float("-inf")):
        shown = ("-" if v < 0 else "") + ".inf (infinite, or too large for a float)"
    elif isinstance(v, int) and not isinstance(v, bool):
        shown = f"an integer of {len(str(abs(v)))} digits (too large for a float)"
    else:
        shown = repr(v) if len(repr(v)) <= 40 else repr(v)[:37] + "..."
    return f"must be a finite number, got {shown}"


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
        elif err["type"] == "finite_number":
            msg = not_finite_message(err.get("input"))
            hint = "a threshold or numeric operand must be a finite real number"
        elif err["type"] in ("literal_error", "enum"):
            msg = f"{msg}, got {err.get('input')!r}"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        items.append(
            ErrorItem(message=msg, file=loc.file, line=line, column=col, path=format_path(path),
                      hint=hint)
        )
    return items
