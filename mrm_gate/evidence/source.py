"""`EvidenceSource`: where a gate reads evidence from, as an extension point.

A source turns a *subject* (what the user names: `models:/credit@champion`, an evidence folder,
anything a third-party source understands) into `Evidence`, resolves baselines (the version
holding an alias, for no-regression), says where the model itself can be loaded from, and
exports the evidence as a self-contained folder.

Sources register through the entry-point group `mrm_gate.sources`, exactly as checks do through
`mrm_gate.checks`; the two built-ins (`local`, `mlflow`) are declared there too. Choosing a source
is `open_source(subject)`: the first registered source whose `claims(subject)` is true (built-ins
last, so a plugin can claim a more specific form), or the one named explicitly.

Contract for `baseline()`: return None only when no version holds the alias (or the version does
not exist); raise `EvidenceError` when the registry cannot be read. The difference matters:
"there is no champion yet" may skip a comparison, "the registry did not answer" must block.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..errors import EvidenceError, UserError
from .model import Evidence

ENTRY_POINT_GROUP = "mrm_gate.sources"
BUILTIN_SOURCES = ("mlflow", "local")


@dataclass
class SourceSettings:
    """What a channel knows about where evidence lives, beyond the subject itself."""

    tracking_uri: str | None = None
    timeout_s: float = 10.0
    # In-process access for the gated MLflow server: a registry/tracking client object with the
    # MlflowClient methods the MLflow source uses, and a factory of run-artifact stores.
    client: Any = None
    store_for: Callable[[str], Any] | None = None
    options: dict[str, Any] = field(default_factory=dict)  # for third-party sources


@dataclass
class SubjectRef:
    """Who the subject is, as far as it can be told without reading it (for a blocked decision
    when loading fails)."""

    name: str
    version: str | None = None
    uri: str | None = None
    source_kind: str = "local"
    tracking_uri: str | None = None


class EvidenceSource(abc.ABC):
    """One kind of evidence store. Subclass it, register it under `mrm_gate.sources`."""

    name: ClassVar[str] = ""

    def __init__(self, settings: SourceSettings | None = None) -> None:
        self.settings = settings or SourceSettings()

    @classmethod
    @abc.abstractmethod
    def claims(cls, subject: str) -> bool:
        """Whether this source understands `subject` (cheap, no I/O)."""

    @abc.abstractmethod
    def describe(self, subject: str) -> SubjectRef:
        """The subject's identity without reading it (no I/O; never raises)."""

    @abc.abstractmethod
    def load(self, subject: str) -> Evidence:
        """The subject's evidence, files attached lazily. Raises `EvidenceError`."""

    def baseline(self, evidence: Evidence, *, alias: str | None = None,
                 version: str | None = None) -> Evidence | None:
        """The evidence of the version holding `alias` (or of `version`) of the same model.

        None: no such version. `EvidenceError`: the store could not be read (blocks). Sources
        without a registry have no baselines beyond `evidence.baselines`.
        """
        return None

    def model_location(self, evidence: Evidence) -> str:
        """A location `mlflow.pyfunc.load_model` accepts for the model (runs:/..., a folder)."""
        if evidence.model_artifact:
            folder = evidence.model_artifact.rstrip("/")
            try:  # a run's artifact store fetches the folder whole (MLmodel alone cannot load)
                got = evidence.open_file(folder, "model_artifact")
                if got.is_dir() and (got / "MLmodel").is_file():
                    return str(got)
            except EvidenceError:
                pass  # a local folder's store opens files only: the folder is MLmodel's parent
            loc = evidence.open_file(folder + "/MLmodel", "model_artifact").parent
            root = getattr(evidence._files, "root", None)
            if root is not None:  # the loader reads every file below: none may link out
                from .containment import check_tree

                check_tree(Path(root), loc, "model_artifact", where="the evidence folder")
            return str(loc)
        raise EvidenceError("the evidence names no model (set `model_artifact:` to an MLflow "
                            "model folder)")

    def load_model(self, evidence: Evidence, *, trusted: bool) -> Any:
        """The model as an `mlflow.pyfunc` model. Loading unpickles (runs) code, so it needs
        `trusted=True`: the user's explicit decision, which the report states."""
        if not trusted:
            raise EvidenceError("loading the model runs its code; pass --trust-model-code "
                                "(trust_model_code: true) to allow it")
        import mlflow.pyfunc

        return mlflow.pyfunc.load_model(self.model_location(evidence))

    def export(self, evidence: Evidence, out: str | Path, *, include_model: bool = False,
               baseline_aliases: Sequence[str] = ("champion",),
               extra_files: Sequence[str] = ()) -> Path:
        """Write `evidence` as a self-contained folder (`evidence.yaml` + files + digests)."""
        from .export import export_evidence

        return export_evidence(evidence, out, source=self, include_model=include_model,
                               baseline_aliases=tuple(baseline_aliases),
                               extra_files=tuple(extra_files))

    def baseline_resolver(self, evidence: Evidence) -> Callable[..., Evidence | None]:
        """`baseline` bound to `evidence`, as checks receive it (`ctx.baseline(alias=...)`)."""

        def resolve(alias: str | None = None, version: str | None = None) -> Evidence | None:
            return self.baseline(evidence, alias=alias, version=version)

        return resolve


_SCANNED: dict[tuple[str, ...], dict[str, Any]] = {}


def _entry_points() -> dict[str, Any]:
    """The registered sources, scanned once per `sys.path` (a scan costs 10-70 ms)."""
    import sys
    from importlib.metadata import entry_points

    key = tuple(sys.path)
    if key not in _SCANNED:
        _SCANNED[key] = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return _SCANNED[key]


def source_names() -> list[str]:
    return sorted(_entry_points())


def source_class(name: str) -> type[EvidenceSource]:
    """The registered source `name` (UserError naming the known ones when unknown)."""
    eps = _entry_points()
    if name not in eps:
        known = ", ".join(sorted(eps)) or "none"
        raise UserError(f"unknown evidence source {name!r} (registered: {known}); sources "
                        f"register under the entry-point group {ENTRY_POINT_GROUP!r}")
    try:
        cls = eps[name].load()
    except Exception as exc:
        raise UserError(f"evidence source {name!r} ({eps[name].value}) cannot be imported: "
                        f"{type(exc).__name__}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, EvidenceSource)):
        raise UserError(f"evidence source {name!r} ({eps[name].value}) is not an "
                        "EvidenceSource subclass")
    return cls


def open_source(subject: str, *, name: str | None = None,
                settings: SourceSettings | None = None) -> EvidenceSource:
    """The source for `subject`: the one named, or the first that claims it (plugins first,
    then `mlflow`, then `local`, which claims any path)."""
    if name:
        cls = source_class(name)
        if not cls.claims(subject):
            raise UserError(f"evidence source {name!r} does not accept {subject!r}")
        return cls(settings)
    names = source_names()
    order = [n for n in names if n not in BUILTIN_SOURCES] + [
        n for n in BUILTIN_SOURCES if n in names]
    for n in order:
        cls = source_class(n)
        if cls.claims(subject):
            return cls(settings)
    raise UserError(f"no evidence source accepts {subject!r} (registered: "
                    f"{', '.join(names) or 'none'})")
