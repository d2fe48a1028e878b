"""`GateRequest`: what one evaluation is asked to do, whatever the channel."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..controls.context import EvaluationOptions
from ..evidence.source import SourceSettings


@dataclass
class GateRequest:
    """One evaluation.

    `subject` is what the user names (`models:/NAME/VERSION`, `models:/NAME@ALIAS`, an evidence
    folder, or whatever a third-party source claims). `policy` is a path or an already loaded
    `Policy` (servers cache it); `waivers` likewise a path or loaded waivers. `source` names an
    evidence source explicitly (default: the first registered source that claims the subject).
    """

    subject: str
    policy: Any  # Policy | str | Path
    waivers: Any = None  # list[Waiver] | str | Path | None
    waivers_file: str | None = None  # where preloaded waivers came from (for the report)
    target: str | None = None
    options: EvaluationOptions = field(default_factory=EvaluationOptions)
    actor: str | None = None
    source: str | None = None
    settings: SourceSettings = field(default_factory=SourceSettings)

    def waivers_label(self) -> str | None:
        if isinstance(self.waivers, (str, Path)):
            return str(self.waivers)
        return self.waivers_file
