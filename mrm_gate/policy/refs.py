"""Validation of regulatory references (`refs`) against the clause catalogues.

A ref is `framework:clause` (e.g. `eu-ai-act:art-10`). The catalogues live as data in
mrm_gate/policy/frameworks/. Until a catalogue exists for a framework prefix, refs with that
prefix are accepted unvalidated.
"""

from __future__ import annotations


def check_ref(ref: str) -> str | None:
    """Return an error message for an invalid ref, or None when it is valid."""
    if ":" not in ref:
        return f"ref {ref!r} must be 'framework:clause' (e.g. 'sr26-2:validation')"
    return None
