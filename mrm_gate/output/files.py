"""Files the gate writes: safe names from hostile data, and never overwriting a user's file.

Two rules every writer follows (reports, attestations, `-o/--output` of every command):

- **A file name is never a path from data.** Model names and versions come from evidence, which
  an owner controls (`version: "3/../../../escape/x"`, `/etc/cron.d/x`, NUL, `..`, 10 kB names,
  `CON`). `safe_component` turns any string into one portable file-name component: ASCII letters,
  digits, `_.-`, no leading dot or dash, no Windows device name, bounded length; when that changed
  the text, a short hash of the original keeps two different models from sharing a name.
  `inside` then checks that the joined path resolves (after symlinks) inside its folder.
- **Nothing a user had is overwritten.** `write_new_file` creates the file with `open(..., "x")`
  (O_CREAT|O_EXCL: it also refuses a symlink planted at that name) and turns every failure into
  a `UserError` (exit 2) that names the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from pathlib import Path

from ..errors import UserError

# Characters kept as they are; every other run of characters becomes one "_".
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
# Windows device names: reserved with any extension, in any case ("con.txt", "LPT1.json").
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
                     *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}
HASH_CHARS = 8
MAX_COMPONENT = 64  # characters of slug before the hash; a whole report name stays < 255 bytes


def short_hash(text: str) -> str:
    """The first hex digits of the SHA-256 of `text` (lone surrogates included)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_CHARS]


def safe_component(text: object, *, fallback: str = "x", max_len: int = MAX_COMPONENT) -> str:
    """One file-name component made from `text`, safe on Linux, macOS and Windows.

    Kept unchanged when `text` already is one (`credit-pd`, `3`, `v1.2`); otherwise a slug plus
    `-` and a short hash of the original, so that `a/b` and `a_b` stay distinct. Never empty,
    never `.`/`..`, never starts with `.` or `-`, never contains a separator or NUL.
    """
    original = str(text)
    slug = _UNSAFE.sub("_", original).strip("._- ")
    if not slug:
        slug = fallback
    if len(slug) > max_len:
        slug = slug[:max_len].rstrip("._-") or fallback
    if slug.split(".")[0].upper() in _WINDOWS_RESERVED:
        slug = f"_{slug}"
    if slug == original:
        return slug
    return f"{slug}-{short_hash(original)}"


def inside(folder: str | Path, name: str) -> Path:
    """`folder / name`, refused unless it resolves (after symlinks) inside `folder`."""
    base = Path(folder)
    path = base / name
    root = base.resolve()
    resolved = path.resolve()
    if resolved.parent != root and root not in resolved.parents:
        raise UserError(f"refusing to write {path}: it resolves to {resolved}, outside {root}")
    return path


def ensure_folder(folder: str | Path) -> Path:
    out = Path(folder)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UserError(f"cannot create the folder {out}: a file of that name exists") from None
    except OSError as exc:
        raise UserError(f"cannot create the folder {out}: {exc.strerror}") from None
    return out


def write_new_file(path: str | Path, text: str, *, option: str = "--output") -> Path:
    """Create `path` holding `text`; an existing file (or symlink) is never overwritten.

    Render before calling: nothing is created when rendering fails. A write that fails half way
    (disk full) removes the partial file. Every failure is a `UserError` naming the file.
    """
    p = Path(path)
    try:
        fh = p.open("x", encoding="utf-8")
    except FileExistsError:
        raise UserError(f"{p} already exists; mrm-gate never overwrites a file (choose another "
                        f"{option}, or move the existing file away)") from None
    except IsADirectoryError:
        raise UserError(f"{p} is a directory; give {option} a file name") from None
    except OSError as exc:
        raise UserError(f"cannot write {p}: {exc.strerror or exc}") from None
    try:
        with fh:
            fh.write(text)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(p)
        raise UserError(f"cannot write {p}: {exc.strerror or exc}") from None
    return p
