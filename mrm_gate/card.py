"""Model card scaffold: exactly the sections a policy's `metadata.required` controls demand.

`mrm-gate card init --tier high` tells a model owner what to write before the gate will pass:
one heading per required card section (in the policy's order), with what each control asks for
listed once at the top. The section bodies are left empty on purpose: an unfilled template must
fail the same controls a missing card fails (fail closed), so the guidance lives in a comment
block before the first heading, which is not part of any section. This module plans the card;
`mrm_gate.output` renders it (`markdown.card`, `yamlfmt.card`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UserError
from .evidence.card import normalise_section
from .policy.loader import Policy

REQUIRED_CHECK = "metadata.required"
FORMATS = ("markdown", "yaml")


@dataclass
class Section:
    """One card section and the controls that require it."""

    name: str
    controls: list[str] = field(default_factory=list)
    descriptions: list[str] = field(default_factory=list)


@dataclass
class CardPlan:
    policy: str
    policy_version: str | None
    tier: str
    target: str | None
    sections: list[Section]
    other_items: list[str]  # tags, fields and run params the same controls need

    @property
    def section_names(self) -> list[str]:
        return [s.name for s in self.sections]


def plan_card(policy: Policy, tier: str, target: str | None = None) -> CardPlan:
    """The card sections (and other documentation items) the tier's controls require."""
    controls = policy.controls_for(tier, target)
    sections: dict[str, Section] = {}
    other: list[str] = []
    for rc in controls:
        if rc.control.check != REQUIRED_CHECK or rc.params is None:
            continue
        params = rc.params
        for name in getattr(params, "card_sections", []):
            key = normalise_section(name)
            sec = sections.setdefault(key, Section(name=name.strip()))
            if rc.id not in sec.controls:
                sec.controls.append(rc.id)
                if rc.control.description:
                    sec.descriptions.append(rc.control.description)
        items = ([f"tag `{t}`" for t in params.tags] + [f"field `{f}`" for f in params.fields]
                 + [f"run param `{p}`" for p in params.run_params])
        if params.min_description_chars:
            items.append(f"a description of at least {params.min_description_chars} characters")
        for item in items:
            line = f"{item} ({rc.id})"
            if line not in other:
                other.append(line)
    return CardPlan(policy.metadata.name, policy.metadata.version, tier, target,
                    list(sections.values()), other)


def guidance(plan: CardPlan, today: dt.date) -> list[str]:
    """What the template tells its writer (rendered as a comment by each card format)."""
    target = f", target {plan.target}" if plan.target else ""
    version = f" {plan.policy_version}" if plan.policy_version else ""
    lines = [f"Model card template written by `mrm-gate card init` on {today.isoformat()} for "
             f"policy {plan.policy}{version}, tier {plan.tier}{target}.",
             "Fill in every section below; an empty section fails the gate. Sections required:"]
    for s in plan.sections:
        lines.append(f"- {s.name}: required by {', '.join(s.controls)}")
    if plan.other_items:
        lines.append("The same controls also need, outside the card: "
                     + "; ".join(plan.other_items) + ".")
    lines.append("Log the card with the model's run (e.g. as model_card.md) or name it in the "
                 "evidence (model_card_file).")
    return lines


def render_markdown(plan: CardPlan, model_name: str | None = None,
                    today: dt.date | None = None) -> str:
    """The Markdown template (rendered by `mrm_gate.output.markdown.card`)."""
    from .output.markdown import card

    return card(plan, model_name, today)


def render_yaml(plan: CardPlan, model_name: str | None = None,
                today: dt.date | None = None) -> str:
    """The YAML template (rendered by `mrm_gate.output.yamlfmt.card`)."""
    from .output.yamlfmt import card

    return card(plan, model_name, today)


def format_for(path: Path, fmt: str | None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise UserError(f"unknown card format {fmt!r} (choose from {', '.join(FORMATS)})")
        return fmt
    return "yaml" if path.suffix.lower() in (".yaml", ".yml") else "markdown"


def write_new(path: Path, text: str) -> None:
    """Write `text` to a new file; an existing file is never overwritten."""
    from .output.files import write_new_file

    write_new_file(path, text, option="--out")
