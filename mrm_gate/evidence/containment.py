"""The one place that decides whether a path named by evidence may be opened, and what a
message about a file may say.

Evidence is hostile input: a dataset path, the model-card file, the backtest, the source of a
dataset logged with `mlflow.log_input`, or `evidence.yaml` itself can point anywhere
(`/etc/passwd`, `../../secrets`, `file:///srv/key.pem`, a symlink planted in the folder or inside
a downloaded artifact). Every file the gate opens must resolve, after every symlink (of the file
and of each parent folder), inside a root the gate chose itself: the evidence folder, or the
private folder a run's artifacts were downloaded into. Anything else is an `EvidenceError` that
names the field and the path as written, never what the file holds.

Parsers (pandas, pyarrow, PyYAML, json) put the offending line of a file in their messages;
`parse_error_text` keeps only the error class and the position, so a message (and through it a
report, a log line or a 403 from the gated server) never quotes file contents.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

from ..errors import ErrorItem, EvidenceError, UserError

MAX_PATH_CHARS = 1024
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
# Positions that parsers report, kept in the message (everything else of theirs is dropped).
_POSITION = re.compile(
    r"\b(line|row|column|col|char|offset|position|byte)s?\s*[:=]?\s*(\d+)", re.IGNORECASE
)


def _named(what: str, path: object) -> str:
    shown = repr(path)
    if len(shown) > 120:
        shown = shown[:117] + "...'"
    return f"{what} {shown}"


def check_relative(path: object, what: str) -> PurePosixPath:
    """`path` as a relative POSIX path inside its root, by syntax alone (no I/O).

    Refuses what could leave the root before anything is read or downloaded: empty, absolute,
    drive-letter or URI forms, backslashes, NUL bytes and any `..` component.
    """
    if not isinstance(path, str) or not path.strip():
        raise EvidenceError(f"{_named(what, path)} is empty or not a string; give a path "
                            "relative to the evidence")
    if len(path) > MAX_PATH_CHARS or "\x00" in path:
        raise EvidenceError(f"{what} is not a usable path (too long or has a NUL byte)")
    if "\\" in path:
        raise EvidenceError(f"{_named(what, path)} contains a backslash; write paths with '/'")
    if path.startswith("/") or _WINDOWS_DRIVE.match(path) or _SCHEME.match(path):
        raise EvidenceError(
            f"{_named(what, path)} is absolute or a URI; the gate reads only files inside the "
            "evidence (the evidence folder, or the model's run artifacts): give a path relative "
            "to it"
        )
    pure = PurePosixPath(path)
    if ".." in pure.parts:
        raise EvidenceError(f"{_named(what, path)} contains '..'; the gate reads only files "
                            "inside the evidence: give a path relative to it without '..'")
    return pure


def resolve_inside(root: Path, path: str | os.PathLike, what: str, *, where: str,
                   allow_absolute: bool = False) -> Path:
    """The real path of `path` if it exists and resolves inside `root`; else EvidenceError.

    `path` is relative to `root` (checked by `check_relative`), or, with `allow_absolute`, an
    absolute path that must still resolve inside `root`. Symlinks are followed everywhere
    (file, parent folders), so a link planted anywhere cannot lead out. `where` describes the
    root in messages ("the evidence folder /x", "the run's artifacts").
    """
    real_root = Path(root).resolve()
    raw = os.fspath(path)
    if allow_absolute and os.path.isabs(raw):
        if "\x00" in raw or len(raw) > MAX_PATH_CHARS * 4:
            raise EvidenceError(f"{what} is not a usable path (too long or has a NUL byte)")
        candidate = Path(raw)
    else:
        candidate = real_root / check_relative(raw, what)
    try:
        real = candidate.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop: RuntimeError before 3.13
        raise EvidenceError(f"{_named(what, raw)} cannot be resolved ({type(exc).__name__}, "
                            "a symlink loop?)") from None
    if real != real_root and real_root not in real.parents:
        raise EvidenceError(
            f"{_named(what, raw)} resolves outside {where} (through '..', an absolute path or "
            "a symlink); the gate reads only files inside the evidence: copy the file into it"
        )
    if not real.exists():
        raise EvidenceError(f"{_named(what, raw)} not found in {where}")
    return real


def check_tree(root: Path, folder: Path, what: str, *, where: str) -> None:
    """Every entry below `folder` (a downloaded or evidence folder) resolves inside `root`.

    A folder whose files are links to elsewhere is refused as a whole: a reader given the
    folder (e.g. `mlflow.pyfunc.load_model`) would follow them.
    """
    real_root = Path(root).resolve()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for name in (*dirnames, *filenames):
            entry = Path(dirpath) / name
            if not entry.is_symlink():
                continue
            try:
                real = entry.resolve()
            except (OSError, RuntimeError):
                real = None
            if real is None or (real != real_root and real_root not in real.parents):
                rel = entry.relative_to(folder).as_posix()
                raise EvidenceError(f"{what}: {rel!r} is a symlink that leads outside {where}; "
                                    "the gate reads only files inside the evidence")


_COUNTS = re.compile(r"expected (\d+) (fields|columns)\D{0,20}?(?:got|saw) (\d+)", re.IGNORECASE)
_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"")


def unquoted(text: str, limit: int = 160) -> str:
    """A parser's one-line description with every quoted snippet of the input removed
    (PyYAML: `found undefined alias 'x'` -> `found undefined alias '…'`)."""
    line = (text.strip().splitlines() or [""])[0]
    return _QUOTED.sub("'…'", line)[:limit]


def parse_error_text(exc: BaseException) -> str:
    """A parser's error reduced to its class and the positions it names (no file content).

    `pandas.errors.ParserError: Error tokenizing data. C error: Expected 2 fields in line 3,
    saw 4` becomes `ParserError (line 3)`; a pyarrow or PyYAML message quoting the bad line
    keeps only the line/column numbers.
    """
    positions: list[str] = []
    counts = _COUNTS.search(str(exc))
    if counts:
        positions.append(f"expected {counts.group(1)} {counts.group(2)}, got {counts.group(3)}")
    for m in _POSITION.finditer(str(exc)):
        item = f"{m.group(1).lower()} {m.group(2)}"
        if item not in positions:
            positions.append(item)
    mark = getattr(exc, "problem_mark", None)  # PyYAML
    if mark is not None and not positions:
        positions = [f"line {mark.line + 1}", f"column {mark.column + 1}"]
    name = type(exc).__name__
    return f"{name} ({', '.join(positions[:4])})" if positions else name


def load_yaml_redacted(path: os.PathLike | str, what: str, text: str | None = None):
    """`yamlsafe.load_yaml` for a file of the evidence: any YAML problem (including the ones the
    safe constructor raises late, like an unknown `!tag`) is an EvidenceError with the file and
    position, never the parser's quote of the file."""
    import yaml

    from ..yamlsafe import load_yaml

    try:
        return load_yaml(path, what, text=text)
    except UserError as exc:
        raise redacted_yaml_error(exc, path, what) from None
    except yaml.YAMLError as exc:
        raise EvidenceError(f"cannot parse {what} file {path}: "
                            f"{parse_error_text(exc)}") from None
    except RecursionError:
        raise EvidenceError(f"cannot parse {what} file {path}: nested too deeply") from None


def redacted_yaml_error(exc: UserError, file: os.PathLike | str, what: str) -> EvidenceError:
    """A YAML error without the parser's quotes of the file: its description with quoted
    snippets removed, and the line and column."""
    import yaml

    items = [ErrorItem(message=unquoted(i.message), file=i.file, line=i.line, column=i.column,
                       path=i.path, hint=i.hint) for i in exc.items]
    message = exc.message
    if not exc.items and isinstance(exc.__context__, yaml.YAMLError):
        message = f"cannot parse {what} file {file}: {parse_error_text(exc.__context__)}"
    return EvidenceError(message, items)
