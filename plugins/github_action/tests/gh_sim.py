"""A simulated GitHub Actions runner for the action's tests (fixtures re-exported by conftest).

- `gh_repo`: a real git repository with a policy, a waivers file and four local evidence
  folders (approve, conditional by warning, conditional by waiver, block), a base commit and a
  head commit that changes only the blocked model's evidence (for `changed-only`);
- `runner`: the environment a runner gives a step (`GITHUB_WORKSPACE`, `GITHUB_EVENT_PATH` with a
  pull_request payload of the real shape, `GITHUB_STEP_SUMMARY`, `GITHUB_OUTPUT`, ...) and a reader
  for what the step wrote;
- `github_api`: a local HTTP server on 127.0.0.1 that answers the three REST calls the PR comment
  needs, records them, and can refuse with 403 like a read-only token.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

HERE = Path(__file__).parent
ACTION_DIR = HERE.parent
REPO_ROOT = ACTION_DIR.parent.parent
# the hand-built decisions of the renderer tests
sys.path.insert(0, str(REPO_ROOT / "tests" / "output"))

POLICY = """\
apiVersion: mrm-gate/v1
kind: Policy
metadata: {name: ci-test, version: "1"}
tiering: {default: std}
tiers:
  std:
    controls:
      - id: CI-DOC-001
        check: metadata.required
        params: {tags: [owner], card_sections: [limitations]}
        description: The model has an owner and a model card stating its limitations.
        remediation: Set the owner tag and add a Limitations section to model_card.md.
        refs: ["sr26-2:documentation"]
      - id: CI-PERF-001
        check: performance.threshold
        params: {metric: auc, min: 0.7}
        description: ROC AUC on the validation set of at least 0.70.
        remediation: Improve the model, or request a waiver with a compensating control.
        refs: ["sr26-2:performance"]
      - id: CI-PERF-002
        check: performance.threshold
        severity: warn
        params: {metric: ks, min: 0.3}
        description: KS statistic of at least 0.30.
        remediation: Look at the score separation before promoting.
"""

CARD = "# Model card\n\n## Intended use\nRetail PD.\n\n## Limitations\nNot for SME loans.\n"
CARD_NO_LIMITS = "# Model card\n\n## Intended use\nRetail PD.\n"

# name -> (auc, ks, model card)
MODELS = {
    "approved": (0.82, 0.41, CARD),
    "warned": (0.80, 0.21, CARD),
    "waived": (0.66, 0.35, CARD),
    "blocked": (0.61, 0.40, CARD_NO_LIMITS),
}
EXPECTED = {"approved": "APPROVE", "warned": "CONDITIONAL", "waived": "CONDITIONAL",
            "blocked": "BLOCK"}
WAIVER_EXPIRES = dt.date.today() + dt.timedelta(days=90)


def policy_line(control_id: str) -> int:
    """The line of the control's `- id:` in POLICY (what annotations must point at)."""
    for n, line in enumerate(POLICY.splitlines(), 1):
        if line.strip() == f"- id: {control_id}":
            return n
    raise AssertionError(control_id)


def _evidence(name: str, auc: float, ks: float) -> str:
    return (f"model: {{name: {name}-model, version: '3', tags: {{owner: alice}}}}\n"
            f"run: {{metrics: {{auc: {auc}, ks: {ks}}}}}\n"
            "model_card_file: model_card.md\n")


def git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
           "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", "PATH": "/usr/bin:/bin"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env=env).stdout.strip()


@dataclass
class Repo:
    path: Path
    base: str
    head: str


def make_repo(path: Path) -> Repo:
    (path / "policies").mkdir(parents=True)
    (path / "policies" / "ci.yaml").write_text(POLICY)
    (path / "waivers.yaml").write_text(
        "apiVersion: mrm-gate/v1\nkind: Waivers\nwaivers:\n"
        "  - {id: W-1, control: CI-PERF-001, model: waived-model, version: '*',\n"
        "     reason: challenger kept in shadow mode, approver: cro@example.com,\n"
        f"     expires: {WAIVER_EXPIRES.isoformat()}}}\n")
    for name, (auc, ks, card) in MODELS.items():
        folder = path / "models" / name
        folder.mkdir(parents=True)
        # the base commit has an older blocked model (AUC 0.62); the PR retrains it
        folder.joinpath("evidence.yaml").write_text(
            _evidence(name, 0.62 if name == "blocked" else auc, ks))
        folder.joinpath("model_card.md").write_text(card)
    (path / "README.md").write_text("models\n")
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "base")
    base = git(path, "rev-parse", "HEAD")
    git(path, "checkout", "-q", "-b", "retrain")
    auc, ks, _card = MODELS["blocked"]
    (path / "models" / "blocked" / "evidence.yaml").write_text(_evidence("blocked", auc, ks))
    (path / "README.md").write_text("models, retrained\n")
    git(path, "commit", "-q", "-am", "retrain the blocked model")
    head = git(path, "rev-parse", "HEAD")
    return Repo(path, base, head)


@pytest.fixture
def gh_repo(tmp_path) -> Repo:
    return make_repo(tmp_path / "repo")


@dataclass
class Runner:
    """The files and variables a runner gives a step, and readers for what the step wrote."""

    tmp: Path
    repo: Repo
    env: dict[str, str] = field(default_factory=dict)

    def event(self, name: str = "pull_request", payload: dict | None = None) -> None:
        if payload is None:
            text = (HERE / "data" / "pull_request.json").read_text()
            text = text.replace("BASE_SHA", self.repo.base).replace("HEAD_SHA", self.repo.head)
            payload = json.loads(text)
        path = self.tmp / "event.json"
        path.write_text(json.dumps(payload))
        self.env.update(GITHUB_EVENT_NAME=name, GITHUB_EVENT_PATH=str(path))

    @property
    def summary(self) -> str:
        p = Path(self.env["GITHUB_STEP_SUMMARY"])
        return p.read_text(encoding="utf-8") if p.exists() else ""

    @property
    def outputs(self) -> dict[str, str]:
        """Parse $GITHUB_OUTPUT as the runner does (`k=v` and `k<<DELIM ... DELIM`)."""
        p = Path(self.env["GITHUB_OUTPUT"])
        lines = p.read_text(encoding="utf-8").split("\n") if p.exists() else []
        out, i = {}, 0
        while i < len(lines):
            line = lines[i]
            if "<<" in line:
                name, delim = line.split("<<", 1)
                end = lines.index(delim, i + 1)
                out[name] = "\n".join(lines[i + 1:end])
                i = end + 1
            elif "=" in line:
                k, v = line.split("=", 1)
                out[k] = v
                i += 1
            else:
                i += 1
        return out


@pytest.fixture
def runner(tmp_path, gh_repo) -> Runner:
    r = Runner(tmp=tmp_path, repo=gh_repo)
    r.env.update(
        GITHUB_ACTIONS="true", CI="true", GITHUB_WORKSPACE=str(gh_repo.path),
        GITHUB_STEP_SUMMARY=str(tmp_path / "step_summary.md"),
        GITHUB_OUTPUT=str(tmp_path / "github_output.txt"),
        GITHUB_REPOSITORY="acme/credit-models", GITHUB_SERVER_URL="https://github.com",
        GITHUB_RUN_ID="4242", GITHUB_API_URL="http://127.0.0.1:9",
    )
    r.event()
    return r


class FakeGitHub(ThreadingHTTPServer):
    """Answers GET/POST issue comments and PATCH a comment; records every request."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict] = []
        self.comments: list[dict] = []
        self.refuse: int | None = None  # e.g. 403 for a read-only token

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeGitHub

    def log_message(self, *args) -> None:
        pass

    def _reply(self, code: int, body) -> None:
        raw = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.server.requests.append({"method": self.command, "path": self.path,
                                     "headers": {k.lower(): v for k, v in self.headers.items()},
                                     "body": body})
        if self.server.refuse and self.command != "GET":
            self._reply(self.server.refuse, {"message": "Resource not accessible by integration"})
            return
        if self.command == "GET":
            self._reply(200, self.server.comments)
        elif self.command == "POST":
            c = {"id": 100 + len(self.server.comments), "body": body["body"],
                 "html_url": "https://github.com/acme/credit-models/pull/17#issuecomment-1"}
            self.server.comments.append(c)
            self._reply(201, c)
        elif self.command == "PATCH":
            cid = int(self.path.rsplit("/", 1)[1])
            c = next(c for c in self.server.comments if c["id"] == cid)
            c["body"] = body["body"]
            self._reply(200, {**c, "html_url": "https://github.com/x#issuecomment-2"})

    do_GET = do_POST = do_PATCH = _handle


@pytest.fixture
def github_api():
    server = FakeGitHub()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
