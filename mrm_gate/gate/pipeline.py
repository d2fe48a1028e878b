"""`run_gate`: load policy and evidence, evaluate, record. Fail closed at every step.

What can go wrong, and what the gate does:

* the policy or waivers cannot be read, the source is unknown: a `UserError` (exit 2) before
  anything is evaluated or recorded: there is no policy to decide with;
* the evidence cannot be read (missing version, unreadable registry, a file outside its root):
  a BLOCK decision (control `MRM-GATE-EVIDENCE`), recorded like any other;
* the evaluation itself fails (an engine bug): a BLOCK decision that says so;
* a check errors (including a baseline the registry could not read): that control is ERROR,
  which blocks when the control blocks (the engine);
* a recorder fails: `RecordingFailed` carrying the decision; later recorders do not run, so
  nothing claims an approval that the (earlier) decision log does not hold.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..decision import Decision, ModelRef
from ..errors import EvidenceError, MrmGateError
from ..evidence.source import EvidenceSource, open_source
from .recorders import Recorder, Recording, record
from .request import GateRequest

_logger = logging.getLogger("mrm_gate.gate")


def load_request_policy(request: GateRequest) -> tuple[Any, list[Any]]:
    """The request's policy and waivers, loaded when given as paths (UserError when bad)."""
    from ..policy import load_policy, load_waivers

    policy = request.policy
    if isinstance(policy, (str, Path)):
        policy = load_policy(policy)
    waivers = request.waivers
    if isinstance(waivers, (str, Path)):
        waivers = load_waivers(waivers, policy)
    return policy, list(waivers or [])


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else type(exc).__name__


def run_gate(
    request: GateRequest,
    source: EvidenceSource | None = None,
    *,
    recorders: Sequence[Recorder] = (),
    progress: Callable[[int, int, str], None] | None = None,
    recording: Recording | None = None,
) -> Decision:
    """Evaluate `request` and record the Decision with `recorders`, in order."""
    from ..engine import blocked_decision, evaluate, model_ref

    policy, waivers = load_request_policy(request)
    source = source or open_source(request.subject, name=request.source,
                                   settings=request.settings)
    for r in recorders:  # a bad key or log path is a usage error before any evaluation
        r.prepare()
    try:
        evidence = source.load(request.subject)
    except (EvidenceError, MrmGateError) as exc:
        decision = _blocked(policy, source, request, str(exc))
    except Exception as exc:  # a source bug must block, not open the gate
        _logger.exception("evidence source %s failed", source.name)
        decision = _blocked(policy, source, request,
                            f"evidence source {source.name!r} failed: "
                            f"{type(exc).__name__}: {_first_line(exc)}")
    else:
        try:
            decision = evaluate(policy, evidence, target=request.target, waivers=waivers,
                                waivers_file=request.waivers_label(), options=request.options,
                                baseline=source.baseline_resolver(evidence), source=source,
                                actor=request.actor, progress=progress)
        except MrmGateError:
            raise
        except Exception as exc:  # an engine bug must not open the gate
            _logger.exception("evaluation failed")
            decision = blocked_decision(policy, model_ref(evidence), request.target,
                                        f"evaluation failed: {type(exc).__name__}: "
                                        f"{_first_line(exc)}",
                                        evidence_sha256=evidence.content_sha256(),
                                        actor=request.actor)
    record(decision, recorders, recording)
    return decision


def _blocked(policy: Any, source: EvidenceSource, request: GateRequest, reason: str) -> Decision:
    from ..engine import blocked_decision

    ref = source.describe(request.subject)
    model = ModelRef(name=ref.name, version=ref.version, uri=ref.uri or request.subject,
                     source_kind=ref.source_kind, tracking_uri=ref.tracking_uri)
    return blocked_decision(policy, model, request.target, reason, actor=request.actor,
                            now=request.options.now)
