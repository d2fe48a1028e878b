"""GitHub Actions output: job summary, workflow annotations, step outputs, and the PR comment.

Everything that turns decisions into text is a pure function (tested without a runner); the
few functions that touch the runner (`write_outputs`, `append_summary`) or the REST API
(`post_or_update_comment`) take their file or URL as an argument.

Paths in annotations are made relative to the checkout (`root`, i.e. `$GITHUB_WORKSPACE`): GitHub
only attaches an annotation to a file given relative to the repository.

Everything from evidence or decisions is escaped for where it goes: workflow-command messages and
properties as the runner unescapes them (`escape_data`, `escape_property`), Markdown in the job
summary and the PR comment through `escape.md_text`/`md_code` (no link, image, HTML, mention or
broken table from data), and plain log lines through `github_log.plain_log`.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..decision import ControlOutcome, Decision, Severity, Status, Verdict
from .escape import md_cell, md_code, md_text
from .github_log import WorkflowCommand
from .markdown import ICON, STATUS_ICON
from .sarif import evidence_path, model_label, outcome_message, policy_location, repo_path
from .values import fmt_value

COMMENT_MARKER = "<!-- mrm-gate:pr-comment -->"
# GitHub refuses issue comments longer than 65,536 characters.
COMMENT_LIMIT = 65_000
# Workflow command levels per severity of a failing control.
COMMAND = {Severity.BLOCK: "error", Severity.WARN: "warning", Severity.INFO: "notice"}


@dataclass
class ModelRun:
    """One model evaluated by a CI run: its decision, where it came from, where reports went."""

    decision: Decision
    source: str  # evidence folder (relative to the checkout) or models:/ URI
    report_dir: str | None = None
    exit_code: int = 0


def worst_verdict(decisions: Sequence[Decision]) -> Verdict | None:
    """The worst verdict over all models (BLOCK > CONDITIONAL > APPROVE); None for no models."""
    if not decisions:
        return None
    return max((d.verdict for d in decisions), key=lambda v: v.rank)


def reaches(verdict: Verdict | None, fail_on: str) -> bool:
    """Whether `verdict` fails the job for `fail_on` ('block' or 'conditional')."""
    if verdict is None:
        return False
    threshold = Verdict.CONDITIONAL if fail_on == "conditional" else Verdict.BLOCK
    return verdict.rank >= threshold.rank


# -- workflow commands ------------------------------------------------------------------------

def escape_data(text: str) -> str:
    """Escape a workflow command's message (as @actions/core does)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow command property value (file, title...)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(level: str, message: str, *, file: str | None = None, line: int | None = None,
            title: str | None = None) -> WorkflowCommand:
    """One `::error file=...,line=...,title=...::message` line (marked as a command we built)."""
    props = []
    if file:
        props.append(f"file={escape_property(file)}")
        if line:
            props.append(f"line={int(line)}")
    if title:
        props.append(f"title={escape_property(title)}")
    head = f"::{level}" + (" " + ",".join(props) if props else "")
    return WorkflowCommand(f"{head}::{escape_data(message)}")


def _annotation_level(o: ControlOutcome) -> str:
    return "notice" if o.status == Status.WAIVED else COMMAND[o.severity]


def annotations(decisions: Sequence[Decision], *, root: str | Path | None = None) -> list[str]:
    """Workflow commands for every failing, erroring or waived control.

    Each points at the control's line in the policy file; when the measured value came from a
    file in the repository (a local evidence folder), a second annotation points at that file.
    Blocking findings come first: GitHub shows only the first few annotations of each level.
    """
    order = {Severity.BLOCK: 0, Severity.WARN: 1, Severity.INFO: 2}
    items = [(d, o) for d in decisions for o in d.outcomes
             if o.status in (Status.FAIL, Status.ERROR, Status.WAIVED)]
    items.sort(key=lambda x: (x[1].status == Status.WAIVED, order[x[1].severity]))
    lines = []
    for d, o in items:
        level = _annotation_level(o)
        title = f"{o.control_id} {o.status.value} ({model_label(d)})"
        message = outcome_message(d, o)
        if o.remediation and o.status != Status.WAIVED:
            message += f"\nRemediation: {o.remediation}"
        where = policy_location(d, o)
        file, line = (repo_path(where[0], root), where[1]) if where else (None, None)
        lines.append(command(level, message, file=file, line=line, title=title))
        ev = evidence_path(d, o)
        if ev:
            lines.append(command(level, f"{o.control_id} measured its value from this file: "
                                 f"{o.result.message}", file=repo_path(ev, root),
                                 title=f"{o.control_id} evidence ({model_label(d)})"))
    return lines


# -- Markdown ---------------------------------------------------------------------------------

_cell = md_cell


def _where(d: Decision, o: ControlOutcome, root: str | Path | None) -> str:
    loc = policy_location(d, o)
    if not loc:
        return ""
    return md_code(f"{repo_path(loc[0], root)}:{loc[1]}")


def _models_table(runs: Sequence[ModelRun]) -> list[str]:
    lines = ["| Model | Verdict | Tier | Failing | Waived | Source |",
             "|---|---|---|---|---|---|"]
    for r in runs:
        d = r.decision
        waived = [o for o in d.outcomes if o.status == Status.WAIVED]
        lines.append(
            f"| **{_cell(model_label(d))}** | {ICON[d.verdict]} {d.verdict.value} "
            f"| {md_code(d.tier.tier)} | {len(d.failing())} | {len(waived)} "
            f"| {md_code(r.source)} |")
    return lines


def _failing_table(d: Decision, root: str | Path | None, limit: int = 50) -> list[str]:
    failing = d.failing()
    if not failing:
        return []
    lines = ["| Control | Severity | Status | Measured | Threshold | Message | Policy |",
             "|---|---|---|---|---|---|---|"]
    for o in failing[:limit]:
        lines.append(
            f"| {md_code(o.control_id)} | {o.severity.value} "
            f"| {STATUS_ICON[o.status]} {o.status.value} "
            f"| {_cell(fmt_value(o.result.measured))} | {_cell(fmt_value(o.result.threshold))} "
            f"| {_cell(o.result.message)} | {_where(d, o, root)} |")
    if len(failing) > limit:
        lines.append(f"| … | | | | | {len(failing) - limit} more in the report | |")
    return lines


def _waiver_lines(d: Decision) -> list[str]:
    today = d.created_at.date()
    rows = []
    for o in d.outcomes:
        for w in ([o.waiver] if o.waiver else []) + o.expired_waivers:
            days = (w.expires - today).days
            state = (f"expired {-days} days ago, not applied" if w.expired
                     else f"applied, expires in {days} days")
            rows.append(f"| {_cell(w.id)} | {md_code(o.control_id)} | {_cell(w.approver)} "
                        f"| {w.expires} | {state} | {_cell(w.reason)} |")
    if not rows:
        return []
    return ["| Waiver | Control | Approver | Expires | State | Reason |",
            "|---|---|---|---|---|---|", *rows]


def _headline(runs: Sequence[ModelRun], fail_on: str) -> list[str]:
    worst = worst_verdict([r.decision for r in runs])
    if worst is None:
        return ["## mrm-gate: no model to evaluate", "",
                "No evidence folder changed in this pull request, so no model was evaluated.", ""]
    n = len(runs)
    head = f"## mrm-gate: {ICON[worst]} {worst.value}" + (f" (worst of {n} models)" if n > 1
                                                           else "")
    scope = "`conditional` or worse" if fail_on == "conditional" else "`block`"
    verb = "**fails**" if reaches(worst, fail_on) else "passes"
    return [head, "", f"This check {verb} (it fails on {scope}).", ""]


def job_summary(runs: Sequence[ModelRun], *, root: str | Path | None = None,
                fail_on: str = "block", notes: Sequence[str] = (),
                run_url: str | None = None) -> str:
    """The Markdown written to `$GITHUB_STEP_SUMMARY`: verdict per model, what failed and the
    numbers behind it, waivers and when they expire."""
    lines = _headline(runs, fail_on)
    if runs:
        lines += [*_models_table(runs), ""]
    for r in runs:
        d = r.decision
        body = _failing_table(d, root)
        waivers = _waiver_lines(d)
        if not body and not waivers:
            continue
        lines += [f"### {ICON[d.verdict]} {_cell(model_label(d))}: {d.verdict.value}", "",
                  f"Tier {md_code(d.tier.tier)} ({_cell(d.tier.explanation)}); policy "
                  f"{_cell(d.policy.name)} {_cell(d.policy.version or '')} "
                  f"(`sha256:{_cell(d.policy.sha256[:12])}`); decision {md_code(d.id)}.", ""]
        if body:
            lines += [*body, ""]
            fixes = [o for o in d.failing() if o.remediation]
            if fixes:
                lines += ["<details><summary>How to fix</summary>", ""]
                lines += [f"- **{md_text(o.control_id)}**: {md_text(o.remediation)}"
                          for o in fixes]
                lines += ["", "</details>", ""]
        if waivers:
            lines += ["**Waivers**", "", *waivers, ""]
    if notes:
        lines += ["### Notes", "", *[f"- {md_text(n)}" for n in notes], ""]
    if run_url:
        link = run_url.replace("(", "%28").replace(")", "%29").replace(" ", "%20")
        lines += [f"Workflow run: [{md_text(run_url.rsplit('/', 1)[-1])}]({link}) (per-model "
                  "HTML, JSON and Markdown reports, SARIF and JUnit are in the report folder; "
                  "the example workflow uploads it as an artifact).", ""]
    return "\n".join(lines)


def comment_body(runs: Sequence[ModelRun], *, root: str | Path | None = None,
                 fail_on: str = "block", run_url: str | None = None,
                 marker: str = COMMENT_MARKER) -> str:
    """The PR comment: the job summary behind a hidden marker, so the next run of the workflow
    finds this comment and updates it instead of adding another one."""
    text = job_summary(runs, root=root, fail_on=fail_on, run_url=run_url)
    if len(text) > COMMENT_LIMIT:
        cut = text[:COMMENT_LIMIT].rsplit("\n", 1)[0]
        text = cut + "\n\n… (truncated: the job summary and the reports have everything)\n"
    return f"{marker}\n{text}"


# -- runner files -----------------------------------------------------------------------------

def write_outputs(path: str | Path, values: dict[str, str]) -> None:
    """Append step outputs to `$GITHUB_OUTPUT` in the multi-line `name<<DELIMITER` form."""
    with open(path, "a", encoding="utf-8") as fh:
        for name, value in values.items():
            delimiter = f"ghadelimiter_{uuid.uuid4()}"
            while delimiter in value:  # cannot happen in practice; never write an ambiguous file
                delimiter = f"ghadelimiter_{uuid.uuid4()}"
            fh.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")


def append_summary(path: str | Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text if text.endswith("\n") else text + "\n")


def decisions_json(runs: Sequence[ModelRun]) -> str:
    """The `decisions-json` output: one compact object per model, for later workflow steps."""
    return json.dumps([{
        "model": r.decision.model.name,
        "version": r.decision.model.version,
        "source": r.source,
        "verdict": r.decision.verdict.value,
        "tier": r.decision.tier.tier,
        "decision_id": r.decision.id,
        "failing": [o.control_id for o in r.decision.failing()],
        "waived": [o.control_id for o in r.decision.outcomes if o.status == Status.WAIVED],
        "report_dir": r.report_dir,
    } for r in runs], separators=(",", ":"))


# -- PR comment through the REST API ----------------------------------------------------------

@dataclass
class CommentResult:
    action: str  # "created", "updated" or "skipped"
    url: str | None = None
    warning: str | None = None


Opener = Callable[[urllib.request.Request, float], Any]


def _default_opener(request: urllib.request.Request, timeout: float) -> Any:
    return urllib.request.urlopen(request, timeout=timeout)


class _Api:
    def __init__(self, api_url: str, token: str, timeout: float, opener: Opener) -> None:
        self.base = api_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.opener = opener

    def call(self, method: str, path: str, body: dict | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "mrm-gate",
            **({"Content-Type": "application/json"} if data is not None else {}),
        })
        with self.opener(req, self.timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None


def post_or_update_comment(*, api_url: str, repository: str, number: int, token: str, body: str,
                           marker: str = COMMENT_MARKER, timeout: float = 15.0,
                           opener: Opener = _default_opener,
                           max_pages: int = 20) -> CommentResult:
    """Create the PR comment, or update the earlier one that carries `marker`.

    Never raises for an API problem: a token without `pull-requests: write` (the default for PRs
    from forks) or an unreachable API only gives a warning. The gate's verdict is the check
    itself; the comment is a convenience.
    """
    api = _Api(api_url, token, timeout, opener)
    issue = f"/repos/{repository}/issues/{int(number)}"
    try:
        existing = None
        for page in range(1, max_pages + 1):
            comments = api.call("GET", f"{issue}/comments?per_page=100&page={page}") or []
            existing = next((c for c in comments if marker in (c.get("body") or "")), None)
            if existing is not None or len(comments) < 100:
                break
        if existing is not None:
            out = api.call("PATCH", f"/repos/{repository}/issues/comments/{existing['id']}",
                           {"body": body})
            return CommentResult("updated", (out or {}).get("html_url"))
        out = api.call("POST", f"{issue}/comments", {"body": body})
        return CommentResult("created", (out or {}).get("html_url"))
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403, 404):
            why = (f"the token may not write to pull request #{number} (HTTP {exc.code}); give "
                   "the workflow `permissions: pull-requests: write` (pull requests from forks "
                   "get a read-only token)")
        else:
            why = f"the GitHub API answered HTTP {exc.code} {exc.reason}"
        return CommentResult("skipped", warning=f"PR comment not posted: {why}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return CommentResult("skipped", warning=f"PR comment not posted: {reason}")


# -- the runner's environment -----------------------------------------------------------------

@dataclass
class PullRequest:
    number: int
    base_sha: str
    head_sha: str


def pull_request_from_event(event_name: str | None, event_path: str | None) -> PullRequest | None:
    """The pull request of a `pull_request` / `pull_request_target` event, else None."""
    if event_name not in ("pull_request", "pull_request_target") or not event_path:
        return None
    try:
        payload = json.loads(Path(event_path).read_text(encoding="utf-8"))
        pr = payload["pull_request"]
        return PullRequest(number=int(pr["number"]), base_sha=str(pr["base"]["sha"]),
                           head_sha=str(pr["head"]["sha"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run_url(env: dict[str, str] | None = None) -> str | None:
    env = dict(os.environ) if env is None else env
    server, repo, run_id = (env.get("GITHUB_SERVER_URL"), env.get("GITHUB_REPOSITORY"),
                            env.get("GITHUB_RUN_ID"))
    if server and repo and run_id:
        return f"{server}/{repo}/actions/runs/{run_id}"
    return None

