"""Documentation and ownership checks on registry metadata and the model card."""

from __future__ import annotations

from pydantic import Field, model_validator

from ..decision import CheckResult, Status
from ..evidence.card import load_model_card, normalise_section
from ._util import Params
from .context import CheckContext
from .registry import check

MODEL_FIELDS = ("description", "registered_model_description", "source", "run_id", "creator")


class RequiredParams(Params):
    tags: list[str] = Field(default_factory=list, description="tags that must be non-empty")
    fields: list[str] = Field(default_factory=list, description=f"model fields: {MODEL_FIELDS}")
    run_params: list[str] = Field(default_factory=list)
    card_sections: list[str] = Field(
        default_factory=list, description="model card sections that must be present and non-empty"
    )
    min_description_chars: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _something_required(self) -> RequiredParams:
        if not (self.tags or self.fields or self.run_params or self.card_sections
                or self.min_description_chars):
            raise ValueError("name at least one of tags, fields, run_params, card_sections")
        bad = [f for f in self.fields if f not in MODEL_FIELDS]
        if bad:
            raise ValueError(f"unknown model field(s) {bad}; choose from {list(MODEL_FIELDS)}")
        return self


@check("metadata.required", params=RequiredParams,
       summary="Required tags, fields, run params and model card sections are present")
def required(params: RequiredParams, ctx: CheckContext) -> CheckResult:
    """Fails when any required piece of documentation is missing or empty.

    Rationale: SR 26-2 and the EU AI Act (Annex IV) expect every model to be documented and
    owned; an empty tag is as undocumented as a missing one.

    Passing: `tags: [owner]` with the version tagged `owner=alice`.
    Failing: `card_sections: [limitations]` with a model card that has no Limitations section.
    """
    ev = ctx.evidence
    missing: list[str] = []
    for tag in params.tags:
        if not (ev.model.tag(tag) or "").strip():
            missing.append(f"tag {tag}")
    for f in params.fields:
        if not (getattr(ev.model, f) or "").strip():
            missing.append(f"field {f}")
    if params.min_description_chars:
        desc = (ev.model.description or ev.model.registered_model_description or "").strip()
        if len(desc) < params.min_description_chars:
            missing.append(
                f"description of at least {params.min_description_chars} characters "
                f"(has {len(desc)})"
            )
    for p in params.run_params:
        if not str(ev.run.params.get(p, "")).strip():
            missing.append(f"run param {p}")
    evidence_file = None
    if params.card_sections:
        card, evidence_file = load_model_card(ev)
        if card is None:
            missing.extend(f"model card section {s}" for s in params.card_sections)
            missing.append("model card (none found: set model_card/model_card_file)")
        else:
            for s in params.card_sections:
                if not card.get(normalise_section(s), "").strip():
                    missing.append(f"model card section {s}")
    required_n = (len(params.tags) + len(params.fields) + len(params.run_params)
                  + len(params.card_sections) + (1 if params.min_description_chars else 0))
    if missing:
        return CheckResult(
            status=Status.FAIL, message="missing: " + ", ".join(missing),
            measured={"missing": missing}, threshold={"required": required_n},
            evidence_file=evidence_file,
        )
    return CheckResult(status=Status.PASS, message=f"all {required_n} required items present",
                       measured={"missing": []}, threshold={"required": required_n},
                       evidence_file=evidence_file)
