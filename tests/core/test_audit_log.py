"""Decision log: hash chain, tamper detection naming the record, concurrent appends."""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

import pytest

from mrm_gate.audit import DecisionLog, verify
from mrm_gate.cli import run


def _fill(path: Path, n: int = 5) -> None:
    log = DecisionLog(path)
    for i in range(n):
        log.append({"id": f"d{i}", "verdict": "APPROVE" if i % 2 else "BLOCK"})


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_chain_verifies(tmp_path: Path, capsys) -> None:
    p = tmp_path / "log.jsonl"
    _fill(p)
    res = verify(p)
    assert res.ok and res.records == 5
    recs = [json.loads(x) for x in _lines(p)]
    assert [r["seq"] for r in recs] == list(range(5))
    assert recs[0]["prev_sha256"] == "0" * 64
    assert all(recs[i]["prev_sha256"] == recs[i - 1]["sha256"] for i in range(1, 5))
    assert run(["audit", "verify", str(p)]) == 0


def _edit(lines):
    rec = json.loads(lines[2])
    rec["decision"]["verdict"] = "APPROVE"
    lines[2] = json.dumps(rec, sort_keys=True, separators=(",", ":"))
    return lines


TAMPERING = {
    "edited": (_edit, "seq 2): content does not match its hash"),
    "removed": (lambda ls: ls[:2] + ls[3:], "record(s) 2..2 removed"),
    "reordered": (lambda ls: [ls[0], ls[2], ls[1], *ls[3:]], "out of order"),
    "truncated line": (lambda ls: [*ls[:4], ls[4][:40]], "not valid JSON"),
}


@pytest.mark.parametrize("tamper,expected", TAMPERING.values(), ids=TAMPERING.keys())
def test_tampering_is_detected_and_located(tmp_path: Path, tamper, expected, capsys) -> None:
    p = tmp_path / "log.jsonl"
    _fill(p)
    p.write_text("\n".join(tamper(_lines(p))) + "\n")
    res = verify(p)
    assert not res.ok
    assert any(expected in problem for problem in res.problems), res.problems
    assert run(["audit", "verify", str(p)]) == 1
    assert "TAMPERED" in capsys.readouterr().err


def _append_many(path: str, worker: int, n: int) -> None:
    log = DecisionLog(path)
    for i in range(n):
        log.append({"id": f"w{worker}-{i}"})


def test_concurrent_appends_from_processes_keep_the_chain(tmp_path: Path) -> None:
    p = tmp_path / "log.jsonl"
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_append_many, args=(str(p), w, 25)) for w in range(4)]
    for pr in procs:
        pr.start()
    for pr in procs:
        pr.join(60)
        assert pr.exitcode == 0
    res = verify(p)
    assert res.ok, res.problems[:3]
    assert res.records == 100
    ids = {json.loads(x)["decision"]["id"] for x in _lines(p)}
    assert len(ids) == 100


def test_missing_log_is_a_user_error(tmp_path: Path, capsys) -> None:
    assert run(["audit", "verify", str(tmp_path / "none.jsonl")]) == 2
    assert "does not exist" in capsys.readouterr().err
