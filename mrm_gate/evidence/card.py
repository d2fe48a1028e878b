"""Model cards: a YAML mapping (section -> text) or Markdown with headings per section."""

from __future__ import annotations

import re

from ..errors import EvidenceError, UserError
from .model import Evidence

CARD_NAMES = ("model_card.md", "model_card.yaml", "model_card.yml", "MODEL_CARD.md")


def normalise_section(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def parse_markdown_card(text: str) -> dict[str, str]:
    sections: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            current = normalise_section(m.group(1))
            sections.setdefault(current, [])
        elif current is not None:
            sections[current].append(line)
    return {k: "\n".join(v).strip() for k, v in sections.items()}


def parse_card(text: str, name: str) -> dict[str, str]:
    if name.endswith((".yaml", ".yml")):
        from .containment import load_yaml_redacted

        # a parse error keeps its position, not the parser's quote of the card
        data = load_yaml_redacted(name, "model card", text=text).data
        if not isinstance(data, dict):
            raise EvidenceError(f"model card {name} must be a mapping of section -> text")
        return {normalise_section(str(k)): "" if v is None else str(v) for k, v in data.items()}
    return parse_markdown_card(text)


def load_model_card(evidence: Evidence) -> tuple[dict[str, str] | None, str | None]:
    """The model card's sections (normalised names) and the file it came from, if any."""
    if evidence.model_card is not None:
        return {normalise_section(k): v or "" for k, v in evidence.model_card.items()}, None
    name = evidence.model_card_file
    field = "model_card_file"
    if name is None:
        name = next((n for n in CARD_NAMES if n in evidence.run.artifacts), None)
        field = "run artifact"
    if name is None:
        return None, None
    from ..yamlsafe import read_text_limited

    path = evidence.open_file(name, field)  # refused unless inside the evidence
    try:
        text = read_text_limited(path, "model card")
    except UserError as exc:
        raise EvidenceError(f"{field}: model card {name!r} cannot be read: "
                            f"{exc.message.replace(str(path), repr(name))}") from None
    return parse_card(text, name), name
