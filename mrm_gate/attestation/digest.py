"""The content digest of a model directory: what an attestation's subject names.

Recipe (docs/attestations.md, "The model digest"), chosen so a deploy pipeline can recompute it
with coreutils alone::

    cd MODEL_DIR && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum \
      | sed 's|  \\./|  |' | sha256sum

1. every regular file below the directory, at any depth (empty folders do not count);
2. its path relative to the directory, `/`-separated, UTF-8;
3. one manifest line per file: `<sha256 of the file, lower-case hex>  <path>\\n` (two spaces,
   `sha256sum`'s format), lines sorted by the bytes of `./<path>` (`LC_ALL=C sort`);
4. the digest is the sha256 of the manifest.

Refused (an error naming the path): symbolic links (they could point outside the model, and
`find -type f` skips them, so the digest would not cover what a loader reads), and file names
holding a newline or a backslash (`sha256sum` escapes those, the manifest would be ambiguous).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .keys import AttestationKeyError

_CHUNK = 1 << 20


class ModelDigestError(AttestationKeyError):
    """The model directory cannot be digested (a user error: exit code 2)."""


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def manifest(model_dir: str | Path) -> list[tuple[str, str]]:
    """(relative path, sha256) of every regular file below `model_dir`, in digest order."""
    root = Path(model_dir)
    if not root.is_dir() or root.is_symlink():
        raise ModelDigestError(f"model directory {root} is not a directory")
    entries: list[tuple[str, str]] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in [*dirnames, *filenames]:
            full = Path(dirpath, name)
            rel = full.relative_to(root).as_posix()
            if "\n" in rel or "\\" in rel:
                raise ModelDigestError(f"model directory {root}: file name {rel!r} holds a "
                                       "newline or backslash; rename it")
            if full.is_symlink():
                raise ModelDigestError(f"model directory {root}: {rel} is a symbolic link; "
                                       "the digest covers regular files only")
        for name in filenames:
            full = Path(dirpath, name)
            if full.is_file():
                entries.append((full.relative_to(root).as_posix(), file_sha256(full)))
    entries.sort(key=lambda e: ("./" + e[0]).encode("utf-8", "surrogateescape"))
    return entries


def manifest_bytes(model_dir: str | Path) -> bytes:
    """The manifest text whose sha256 is the digest (`sha256sum` lines)."""
    lines = "".join(f"{digest}  {rel}\n" for rel, digest in manifest(model_dir))
    return lines.encode("utf-8", "surrogateescape")


def model_dir_sha256(model_dir: str | Path) -> str:
    """The model directory digest (see the module docstring for the recipe)."""
    return hashlib.sha256(manifest_bytes(model_dir)).hexdigest()
