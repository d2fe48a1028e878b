"""`mrm-gate ci github`: what the GitHub Action runs (plugins/github_action/action.yml).

The action's logic lives here, in Python, so it is tested without a runner: find the evidence
folders (globs), keep the ones a pull request changed, run `mrm-gate evaluate` on each, then write
the job summary, the step outputs, the annotations, the combined SARIF and JUnit files and the PR
comment, and exit non-zero when the worst verdict reaches `--fail-on`.

Every option also reads an `MRM_GATE_*` environment variable: the action passes its inputs that
way, never by pasting them into a shell script (which would let a crafted input run commands).
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import click

from . import EXIT_APPROVE, EXIT_BLOCK

EVIDENCE_FILE = "evidence.yaml"
GLOB_CHARS = re.compile(r"[*?\[]")


@dataclass
class GithubRun:
    """The inputs of one action run (options + the runner's environment)."""

    policy: str
    evidence: list[str] = field(default_factory=list)
    model_uris: list[str] = field(default_factory=list)
    tracking_uri: str | None = None
    target: str | None = None
    waivers: str | None = None
    fail_on: str = "block"
    changed_only: bool = False
    report_dir: str = "mrm-gate-reports"
    formats: str = "json,markdown,html"
    comment: bool = True
    token: str | None = None
    trust_model_code: bool = False
    timeout: float = 10.0
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return Path(self.env.get("GITHUB_WORKSPACE") or os.getcwd()).resolve()


def split_list(value: str | None) -> list[str]:
    """Action inputs hold lists one per line or comma-separated."""
    if not value:
        return []
    return [p.strip() for p in re.split(r"[\n,]", value) if p.strip()]


def parse_flag(name: str, value: str | bool | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    v = value.strip().lower()
    if v in ("true", "yes", "1", "on"):
        return True
    if v in ("false", "no", "0", "off"):
        return False
    from ..errors import UserError

    raise UserError(f"input {name} must be true or false, not {value!r}")


def _under(root: Path, p: str) -> Path:
    path = Path(p)
    return path if path.is_absolute() else root / path


def resolve_evidence(patterns: list[str], root: Path) -> list[Path]:
    """Evidence folders named by `patterns` (folders or globs, relative to the checkout).

    A glob keeps the folders holding an `evidence.yaml` (or the folders of matched
    `evidence.yaml` files); a plain folder is kept as named, so a folder that lacks its
    `evidence.yaml` is evaluated and blocks rather than being silently skipped. A pattern that
    matches nothing is an error: a typo must not turn into a green check.
    """
    from ..errors import UserError

    folders: list[Path] = []
    for pat in patterns:
        base = _under(root, pat)
        if GLOB_CHARS.search(pat):
            found = []
            for m in sorted(Path(p) for p in glob.glob(str(base), recursive=True)):
                if m.is_file() and m.name == EVIDENCE_FILE:
                    found.append(m.parent)
                elif m.is_dir() and (m / EVIDENCE_FILE).is_file():
                    found.append(m)
        else:
            found = [base.parent if base.name == EVIDENCE_FILE else base] if base.exists() else []
        if not found:
            raise UserError(f"evidence {pat!r} matches no evidence folder (a folder holding "
                            f"{EVIDENCE_FILE}) under {root}; check the action's `evidence` input")
        folders += found
    return list(dict.fromkeys(p.resolve() for p in folders))


def changed_files(root: Path, base: str, head: str) -> tuple[list[str] | None, str | None]:
    """Files changed by the pull request (relative to the repository), or None and why not.

    The three-dot diff (against the merge base) is what GitHub shows as the PR's changes; when
    the history is too shallow for a merge base, the two-dot diff over-approximates it, which
    is safe: it only evaluates more models.
    """
    for spec in ([f"{base}...{head}"], [base, head]):
        proc = subprocess.run(["git", "-C", str(root), "diff", "--name-only", "-z", *spec],
                              capture_output=True, text=True, check=False)
        if proc.returncode == 0:
            return [p for p in proc.stdout.split("\0") if p], None
        error = proc.stderr.strip().splitlines()[-1:] or [f"git exited {proc.returncode}"]
    return None, (f"cannot diff {base[:12]}...{head[:12]}: {error[0]} (check out with "
                  "`fetch-depth: 0`)")


def _rel(root: Path, p: Path | str) -> str | None:
    try:
        return Path(p).resolve().relative_to(root).as_posix()
    except ValueError:
        return None


def select_changed(folders: list[Path], changed: list[str], root: Path,
                   always_all_if: list[str]) -> list[Path]:
    """The folders with a changed file; all of them when a file in `always_all_if` changed
    (a policy or waivers change can change every model's decision)."""
    changed_set = set(changed)
    watched = {r for r in (_rel(root, f) for f in always_all_if) if r}
    if changed_set & watched:
        return folders
    keep = []
    for f in folders:
        rel = _rel(root, f)
        if rel is None or any(c == rel or c.startswith(rel + "/") for c in changed_set):
            keep.append(f)  # a folder outside the checkout cannot be diffed: evaluate it
    return keep


def _slug(text: str) -> str:
    """The per-model report folder's name: a safe file-name component, never a path."""
    from ..output.files import safe_component

    return safe_component(text, fallback="model")


def _echo(line: str) -> None:
    """Print to the runner's log. Only the workflow commands this driver built
    (`github.command`, its own group markers) are printed as commands; any other text (a
    report, an error, a URL) is neutralised so no line of it can be read as a command."""
    from ..output.github_log import emit_command, emit_text, is_trusted_command

    if is_trusted_command(line):
        emit_command(line)
    else:
        emit_text(str(line))


def evaluate_one(cfg: GithubRun, source: str, out_dir: Path, is_uri: bool):
    """Run the gate on one model through the one pipeline; return (Decision, exit code).

    Reports (JSON always, plus the requested formats) go to `out_dir`. An evaluation that cannot
    run (a usage error such as an unreadable waiver file) becomes a BLOCK (fail closed) that
    says so, with exit code 2.
    """
    from ..controls.context import EvaluationOptions
    from ..decision import ModelRef, Verdict
    from ..engine import blocked_decision
    from ..errors import MrmGateError
    from ..evidence.folder_source import LocalFolderSource
    from ..evidence.mlflow_source import MlflowSource
    from ..evidence.source import SourceSettings
    from ..gate import GateRequest, ReportFiles, run_gate
    from ..output import render
    from ..policy import load_policy

    fmts = list(dict.fromkeys(["json", *split_list(cfg.formats)]))
    request = GateRequest(
        subject=source, policy=cfg.policy, waivers=cfg.waivers, target=cfg.target,
        options=EvaluationOptions(trust_model_code=cfg.trust_model_code),
        source=None if is_uri else "local",
        settings=SourceSettings(tracking_uri=cfg.tracking_uri if is_uri else None,
                                timeout_s=cfg.timeout))
    try:
        decision = run_gate(request, recorders=[ReportFiles(out_dir, fmts)])
    except MrmGateError as exc:
        _echo(f"error: {exc}")
        reason = f"the gate stopped before deciding on {source}: {exc}"
        ref = (MlflowSource(request.settings) if is_uri else LocalFolderSource()).describe(source)
        model = ModelRef(name=ref.name, version=ref.version, uri=source,
                         source_kind=ref.source_kind, tracking_uri=ref.tracking_uri)
        return blocked_decision(load_policy(cfg.policy), model, cfg.target, reason), \
            getattr(exc, "exit_code", 2)
    _echo(render(decision, "text"))
    blocked = decision.verdict == Verdict.BLOCK or (
        decision.verdict == Verdict.CONDITIONAL and cfg.fail_on == "conditional")
    return decision, EXIT_BLOCK if blocked else EXIT_APPROVE


def run_github(cfg: GithubRun) -> int:
    """The whole action; returns the exit code."""
    from ..errors import UserError
    from ..output import github as gh
    from ..output.junit import render_many as junit_many
    from ..output.sarif import render_many as sarif_many
    from ..policy import load_policy, load_waivers

    root = cfg.root
    env = cfg.env
    notes: list[str] = []

    # 1. inputs, checked before anything runs
    if not cfg.policy:
        raise UserError("no policy given; set the action's `policy` input")
    if not _under(root, cfg.policy).is_file():
        raise UserError(f"policy file {cfg.policy} does not exist (relative paths are "
                        f"relative to the checkout, {root})")
    if cfg.fail_on not in ("block", "conditional"):
        raise UserError(f"fail-on must be block or conditional, not {cfg.fail_on!r}")
    if not cfg.evidence and not cfg.model_uris:
        raise UserError("nothing to evaluate: set the `evidence` input (folders or globs) or "
                        "`model-uri`")
    tracking = cfg.tracking_uri or env.get("MLFLOW_TRACKING_URI")
    if cfg.model_uris and not tracking:
        raise UserError("model-uri needs a tracking server: set the `tracking-uri` input (or "
                        "MLFLOW_TRACKING_URI)")
    from ..evidence.mlflow_source import MlflowSource

    bad = [u for u in cfg.model_uris if not MlflowSource.claims(u)]
    if bad:
        raise UserError(f"model-uri {bad[0]!r} is not models:/NAME/VERSION or models:/NAME@ALIAS")
    cfg.tracking_uri = tracking
    cfg.policy = str(_under(root, cfg.policy))
    cfg.waivers = str(_under(root, cfg.waivers)) if cfg.waivers else None
    policy = load_policy(cfg.policy)
    if cfg.waivers:
        load_waivers(cfg.waivers, policy)
    folders = resolve_evidence(cfg.evidence, root)

    # 2. changed-only: keep the evidence folders the pull request touched
    pr = gh.pull_request_from_event(env.get("GITHUB_EVENT_NAME"), env.get("GITHUB_EVENT_PATH"))
    if cfg.changed_only and folders:
        if pr is None:
            note = (f"changed-only: the event {env.get('GITHUB_EVENT_NAME') or '(none)'!r} is not "
                    f"a pull request, so all {len(folders)} evidence folders are evaluated")
            _echo(gh.command("notice", note, title="mrm-gate"))
            notes.append(note)
        else:
            changed, why = changed_files(root, pr.base_sha, pr.head_sha)
            if changed is None:
                note = f"changed-only: {why}; evaluating all {len(folders)} evidence folders"
                _echo(gh.command("warning", note, title="mrm-gate"))
                notes.append(note)
            else:
                kept = select_changed(folders, changed, root,
                                      [*policy.files, *([cfg.waivers] if cfg.waivers else [])])
                notes.append(f"changed-only: {len(kept)} of {len(folders)} evidence folders "
                             f"changed in #{pr.number}")
                folders = kept

    # 3. evaluate each model
    report_dir = _under(root, cfg.report_dir)
    runs: list[gh.ModelRun] = []
    sources = [(str(f), _rel(root, f) or str(f), False) for f in folders]
    sources += [(u, u, True) for u in cfg.model_uris]
    for source, label, is_uri in sources:
        out = report_dir / _slug(label)
        _echo(f"::group::mrm-gate evaluate {label}")
        try:
            decision, code = evaluate_one(cfg, source, out, is_uri)
        finally:
            _echo("::endgroup::")
        runs.append(gh.ModelRun(decision=decision, source=label,
                                report_dir=_rel(root, out) or str(out), exit_code=code))

    # 4. everything reviewers look at
    decisions = [r.decision for r in runs]
    worst = gh.worst_verdict(decisions)
    url = gh.run_url(dict(env))
    report_dir.mkdir(parents=True, exist_ok=True)
    summary = gh.job_summary(runs, root=root, fail_on=cfg.fail_on, notes=notes, run_url=url)
    body = gh.comment_body(runs, root=root, fail_on=cfg.fail_on, run_url=url)
    files = {
        "sarif-file": (report_dir / "mrm-gate.sarif", sarif_many(decisions, root=root)),
        "junit-file": (report_dir / "mrm-gate.junit.xml", junit_many(decisions)),
        "summary-file": (report_dir / "summary.md", summary),
        "comment-file": (report_dir / "pr-comment.md", body),
    }
    for path, text in files.values():
        path.write_text(text, encoding="utf-8")
    (report_dir / "decisions.json").write_text(gh.decisions_json(runs) + "\n", encoding="utf-8")
    for line in gh.annotations(decisions, root=root):
        _echo(line)
    if env.get("GITHUB_STEP_SUMMARY"):
        gh.append_summary(env["GITHUB_STEP_SUMMARY"], summary)
    outputs = {
        "decision": worst.value if worst else "NONE",
        "decisions-json": gh.decisions_json(runs),
        "report-dir": _rel(root, report_dir) or str(report_dir),
        **{k: _rel(root, p) or str(p) for k, (p, _t) in files.items()},
    }
    if env.get("GITHUB_OUTPUT"):
        gh.write_outputs(env["GITHUB_OUTPUT"], outputs)

    # 5. the PR comment (never fails the gate)
    if pr is not None and cfg.comment:
        if not cfg.token:
            _echo(gh.command("notice", "no token given, so no PR comment; its text is in "
                             f"{outputs['comment-file']}", title="mrm-gate"))
        elif not env.get("GITHUB_REPOSITORY"):
            _echo(gh.command("warning", "GITHUB_REPOSITORY is not set; no PR comment",
                             title="mrm-gate"))
        else:
            res = gh.post_or_update_comment(
                api_url=env.get("GITHUB_API_URL") or "https://api.github.com",
                repository=env["GITHUB_REPOSITORY"], number=pr.number, token=cfg.token,
                body=body)
            if res.warning:
                _echo(gh.command("warning", res.warning, title="mrm-gate"))
            else:
                _echo(f"PR comment {res.action}: {res.url or ''}".rstrip())

    verdict = worst.value if worst else "no model evaluated"
    _echo(f"mrm-gate: {verdict} ({len(runs)} model(s), fail-on {cfg.fail_on}); reports in "
          f"{outputs['report-dir']}")
    return EXIT_BLOCK if gh.reaches(worst, cfg.fail_on) else EXIT_APPROVE


@click.group()
def ci() -> None:
    """Run the gate inside a CI system (used by the GitHub Action)."""


def _env(name: str) -> dict:
    return {"envvar": f"MRM_GATE_{name}", "show_envvar": True}


@ci.command("github")
@click.option("--policy", **_env("POLICY"), help="Policy YAML (relative to the checkout).")
@click.option("--evidence", **_env("EVIDENCE"),
              help="Evidence folders or globs, one per line or comma-separated.")
@click.option("--model-uri", "model_uri", **_env("MODEL_URI"),
              help="models:/NAME/VERSION or models:/NAME@ALIAS URIs, one per line or comma.")
@click.option("--tracking-uri", **_env("TRACKING_URI"),
              help="MLflow tracking URI for --model-uri (default: $MLFLOW_TRACKING_URI).")
@click.option("--target", **_env("TARGET"), help="Alias or stage being requested.")
@click.option("--waivers", **_env("WAIVERS"), help="Waivers YAML.")
@click.option("--fail-on", **_env("FAIL_ON"), default="block", show_default=True,
              help="block or conditional: the lowest verdict that fails the job.")
@click.option("--changed-only", **_env("CHANGED_ONLY"), default="false", show_default=True,
              help="true: on a pull request, only evidence folders it changed.")
@click.option("--report-dir", **_env("REPORT_DIR"), default="mrm-gate-reports",
              show_default=True, help="Folder for the reports.")
@click.option("--formats", **_env("FORMATS"), default="json,markdown,html", show_default=True,
              help="Per-model report formats (combined SARIF and JUnit are always written).")
@click.option("--comment", **_env("COMMENT"), default="true", show_default=True,
              help="true: post or update the PR comment (needs --token).")
@click.option("--token", **_env("TOKEN"), help="GitHub token for the PR comment.")
@click.option("--trust-model-code", **_env("TRUST_MODEL_CODE"), default="false",
              show_default=True, help="true: allow loading pickled models (runs their code).")
@click.option("--timeout", **_env("TIMEOUT"), default=10.0, show_default=True, type=float,
              help="Seconds to wait for the tracking server.")
def github(policy, evidence, model_uri, tracking_uri, target, waivers, fail_on, changed_only,
           report_dir, formats, comment, token, trust_model_code, timeout) -> int:
    """Evaluate the models of a pull request and report to GitHub (what the action runs)."""
    from ..errors import UserError
    from ..output.github import command
    from ..output.github_log import guard_output

    # Everything this run prints, on stdout and stderr, passes the guard: text from evidence
    # (a model name with a line break in the terminal report) never becomes a workflow command.
    with guard_output():
        try:
            cfg = GithubRun(
                policy=policy or "", evidence=split_list(evidence),
                model_uris=split_list(model_uri), tracking_uri=tracking_uri, target=target,
                waivers=waivers, fail_on=(fail_on or "block").strip().lower(),
                changed_only=parse_flag("changed-only", changed_only),
                report_dir=report_dir or "mrm-gate-reports",
                formats=formats or "json,markdown,html",
                comment=parse_flag("comment", comment, True), token=token,
                trust_model_code=parse_flag("trust-model-code", trust_model_code),
                timeout=timeout, env=dict(os.environ))
            return run_github(cfg)
        except UserError as exc:
            # Shown in the checks tab and the job summary, not only in the log.
            _echo(command("error", str(exc), title="mrm-gate could not run"))
            summary = os.environ.get("GITHUB_STEP_SUMMARY")
            if summary:
                from ..output.github import append_summary

                # a fenced block shows the message as text; the fence outgrows any in it
                text = str(exc)
                fence = "`" * max(3, 1 + max(map(len, re.findall("`+", text)), default=0))
                append_summary(summary, f"## mrm-gate could not run\n\n{fence}\n{text}\n"
                               f"{fence}\n")
            raise _log_safe(exc) from None
        except Exception as exc:
            raise _log_safe(exc) from None


def _log_safe(exc: Exception) -> Exception:
    """`exc` with a message that cannot be a workflow command: the CLI prints it to stderr
    after this command returns, outside the output guard."""
    from ..errors import UserError
    from ..output.github_log import plain_log

    text = str(exc)
    safe = plain_log(text)
    if safe == text:
        return exc
    if isinstance(exc, UserError):
        return type(exc)(safe)
    exc.args = (safe,)
    return exc if str(exc) == safe else RuntimeError(plain_log(f"{type(exc).__name__}: {text}"))
