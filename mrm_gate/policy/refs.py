"""Regulatory references (`refs`) and the clause catalogues they are validated against.

A ref is `framework:clause` (e.g. `eu-ai-act:art-10.2.f`). Each framework's catalogue is data in
`mrm_gate/policy/frameworks/<framework>.yaml`: an id and a short title (our own words) per
clause. A ref to an unknown framework or clause is a policy error with a suggestion, so a typo
cannot silently drop a control out of a regulatory mapping (`mrm-gate policy coverage`).

Clause ids are hierarchical by prefix: `art-10.2.f` sits under `art-10.2`, which sits under
`art-10`; `measure-2.11` under `measure-2` under `measure`. The parent is the longest prefix
(cut at `.` or `-`) that is itself a clause.

Organisations can add their own catalogues (an internal standard, a local regulator) in the
same format, in directories named by the `MRM_GATE_FRAMEWORKS_PATH` environment variable
(separated like PATH).
"""

from __future__ import annotations

import difflib
import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import UserError

CATALOGUE_DIR = Path(__file__).with_name("frameworks")
PATH_ENV = "MRM_GATE_FRAMEWORKS_PATH"
ID_PATTERN = r"^[a-z0-9][a-z0-9.\-]*[a-z0-9]$|^[a-z0-9]$"


class _ClauseDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN)
    title: str = Field(min_length=1)
    supersedes: list[str] = Field(default_factory=list)


class _FrameworkDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9\-]*$")
    title: str
    short: str | None = None
    source: str | None = None
    superseded_by: str | None = None
    supersedes_framework: str | None = None
    clauses: list[_ClauseDoc] = Field(min_length=1)


@dataclass(frozen=True)
class Clause:
    """One clause of a framework: id, our short title, its parent clause, what it replaced."""

    framework: str
    id: str
    title: str
    parent: str | None = None
    supersedes: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.framework}:{self.id}"


@dataclass(frozen=True)
class Framework:
    """A clause catalogue, in the order written (the order coverage reports use)."""

    id: str
    title: str
    short: str
    source: str | None
    clauses: dict[str, Clause]
    superseded_by: str | None = None
    supersedes_framework: str | None = None
    file: str = ""
    _children: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False)

    def children(self, clause_id: str) -> tuple[str, ...]:
        return self._children.get(clause_id, ())

    def depth(self, clause_id: str) -> int:
        d, parent = 0, self.clauses[clause_id].parent
        while parent is not None:
            d, parent = d + 1, self.clauses[parent].parent
        return d

    def descendants(self, clause_id: str) -> list[str]:
        out: list[str] = []
        for child in self.children(clause_id):
            out.append(child)
            out.extend(self.descendants(child))
        return out

    def is_leaf(self, clause_id: str) -> bool:
        return not self.children(clause_id)


def _parent_of(clause_id: str, known: set[str]) -> str | None:
    cuts = [m.start() for m in re.finditer(r"[.\-]", clause_id)]
    for cut in reversed(cuts):
        if clause_id[:cut] in known:
            return clause_id[:cut]
    return None


def _load_file(path: Path) -> Framework:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        doc = _FrameworkDoc.model_validate(data)
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise UserError(f"framework catalogue {path} is invalid: {exc}") from None
    if doc.id != path.stem:
        raise UserError(f"framework catalogue {path} declares id {doc.id!r}; the file must be "
                        f"named {doc.id}.yaml")
    ids = [c.id for c in doc.clauses]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise UserError(f"framework catalogue {path} repeats clause id(s) {dupes}")
    known = set(ids)
    clauses: dict[str, Clause] = {}
    children: dict[str, list[str]] = {}
    for c in doc.clauses:
        parent = _parent_of(c.id, known)
        clauses[c.id] = Clause(doc.id, c.id, c.title, parent, tuple(c.supersedes))
        if parent is not None:
            children.setdefault(parent, []).append(c.id)
    return Framework(
        id=doc.id, title=doc.title, short=doc.short or doc.id, source=doc.source,
        clauses=clauses, superseded_by=doc.superseded_by,
        supersedes_framework=doc.supersedes_framework, file=str(path),
        _children={k: tuple(v) for k, v in children.items()},
    )


def _catalogue_dirs() -> list[Path]:
    extra = [Path(p) for p in os.environ.get(PATH_ENV, "").split(os.pathsep) if p.strip()]
    return [CATALOGUE_DIR, *extra]


@functools.lru_cache(maxsize=4)
def _frameworks_for(dirs: tuple[Path, ...]) -> dict[str, Framework]:
    found: dict[str, Framework] = {}
    for d in dirs:
        if not d.is_dir():
            continue
        for path in sorted(d.glob("*.yaml")):
            fw = _load_file(path)
            if fw.id in found:
                raise UserError(f"framework {fw.id!r} is defined twice: {found[fw.id].file} "
                                f"and {path}")
            found[fw.id] = fw
    for fw in found.values():  # cross-framework links must resolve too
        for clause in fw.clauses.values():
            for ref in clause.supersedes:
                problem = _check(ref, found)
                if problem:
                    raise UserError(f"framework catalogue {fw.file}: clause {clause.id} "
                                    f"supersedes {problem}")
    return found


def frameworks() -> dict[str, Framework]:
    """Every known clause catalogue by framework id (built-in plus MRM_GATE_FRAMEWORKS_PATH)."""
    return _frameworks_for(tuple(_catalogue_dirs()))


def get_framework(name: str) -> Framework:
    """The catalogue of `name`, or a UserError naming the known frameworks."""
    known = frameworks()
    if name in known:
        return known[name]
    close = difflib.get_close_matches(name.lower(), list(known), n=1, cutoff=0.5)
    raise UserError(
        f"unknown framework {name!r} (known: {', '.join(sorted(known))})"
        + (f"; did you mean {close[0]!r}?" if close else "")
    )


def split_ref(ref: str) -> tuple[str, str] | None:
    if ":" not in ref:
        return None
    framework, _, clause = ref.partition(":")
    return framework.strip(), clause.strip()


def canonical_clause(text: str) -> str:
    """Best guess at the catalogue id a human wrote: `Art. 10(2)(f)` -> `art-10.2.f`."""
    t = text.strip().lower()
    t = re.sub(r"^(article|art\.?)\s*", "art-", t)
    t = re.sub(r"^annex\s+", "annex-", t)
    t = re.sub(r"\(([a-z0-9]+)\)", r".\1", t)
    t = re.sub(r"\s+", "-", t)
    t = re.sub(r"-+", "-", t).replace("-.", ".").strip(".-")
    return t


def _check(ref: str, known: dict[str, Framework]) -> str | None:
    parts = split_ref(ref)
    if parts is None or not parts[0] or not parts[1]:
        return f"ref {ref!r} must be 'framework:clause' (e.g. 'sr26-2:validation')"
    fw_name, clause = parts
    fw = known.get(fw_name)
    if fw is None:
        close = difflib.get_close_matches(fw_name.lower(), list(known), n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}:{clause}'?" if close else (
            f"add a catalogue in {PATH_ENV} to use your own")
        return (f"ref {ref!r} names unknown framework {fw_name!r} "
                f"(known: {', '.join(sorted(known))}); {hint}")
    if clause in fw.clauses:
        return None
    guess = canonical_clause(clause)
    if guess not in fw.clauses:
        close = difflib.get_close_matches(guess, list(fw.clauses), n=1, cutoff=0.6)
        guess = close[0] if close else ""
    hint = (f"did you mean '{fw_name}:{guess}' ({fw.clauses[guess].title})?" if guess
            else f"`mrm-gate policy coverage POLICY --framework {fw_name}` lists its clauses")
    return f"ref {ref!r}: {fw.short} has no clause {clause!r}; {hint}"


def check_ref(ref: str) -> str | None:
    """Return an error message for an invalid ref, or None when it is valid."""
    return _check(ref, frameworks())


def resolve_ref(ref: str) -> Clause | None:
    """The clause a valid ref names (None for an invalid ref)."""
    parts = split_ref(ref)
    if parts is None:
        return None
    fw = frameworks().get(parts[0])
    return fw.clauses.get(parts[1]) if fw else None
