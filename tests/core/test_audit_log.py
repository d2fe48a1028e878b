"""Decision log: hash chain, tamper detection naming the record, concurrent appends, torn
writes, files that are not logs, fast appends, and the `audit list` / `audit show` queries."""

from __future__ import annotations

import base64
import json
import multiprocessing as mp
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mrm_gate.audit import DecisionLog, verify
from mrm_gate.cli import run
from mrm_gate.errors import UserError


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


# ---- torn writes, damaged lines and files that are not logs ---------------------------------

def _record_line(p: Path, seq: int) -> bytes:
    return p.read_bytes().splitlines(keepends=True)[seq]


TORN_TAILS = {
    "half a record": lambda p: _record_line(p, 4)[:57],
    "record prefix only": lambda p: b'{"dec',
    "zeros after a crash": lambda p: b"\0" * 300,
    "complete record without newline": lambda p: b"",  # see below: the last newline is cut
}


@pytest.mark.parametrize("torn", TORN_TAILS.values(), ids=TORN_TAILS.keys())
def test_append_after_a_torn_tail_repairs_and_records_it(tmp_path: Path, torn, capsys) -> None:
    p = tmp_path / "log.jsonl"
    _fill(p)
    tail = torn(p)
    data = p.read_bytes()
    if not tail:
        data, tail = data[:-1], data[data.rstrip(b"\n").rfind(b"\n") + 1:-1]
    p.write_bytes(data + (b"" if data.endswith(tail) else tail))
    assert run(["audit", "verify", str(p)]) == 0  # a torn write is a warning, not tampering
    assert "torn last write" in capsys.readouterr().err

    record = DecisionLog(p).append({"id": "after-crash"})
    recs = [json.loads(x) for x in _lines(p)]
    repair = recs[-2]
    assert repair["kind"] == "log_repaired"
    assert base64.b64decode(repair["decision"]["removed_b64"]) == tail
    assert repair["decision"]["removed_bytes"] == len(tail)
    assert recs[-1] == record and record["prev_sha256"] == repair["sha256"]
    res = verify(p)
    assert res.ok, res.problems
    assert any("the log was repaired" in w for w in res.warnings)
    assert run(["audit", "verify", str(p)]) == 0
    assert "repaired" in capsys.readouterr().err
    DecisionLog(p).append({"id": "and-again"})  # every later append works
    assert verify(p).ok and len(_lines(p)) == len(recs) + 1


def test_a_torn_first_write_leaves_a_usable_log(tmp_path: Path) -> None:
    p = tmp_path / "log.jsonl"
    p.write_bytes(b'{"decision":{"id":"x"')
    DecisionLog(p).append({"id": "d0"})
    recs = [json.loads(x) for x in _lines(p)]
    assert [r["kind"] for r in recs] == ["log_repaired", "decision"]
    assert verify(p).ok


NOT_LOGS = {
    "text": b"hello world\n",
    "text without newline": b"hello",
    "csv": b"a,b,c\n1,2,3\n",
    "yaml": b"apiVersion: mrm-gate/v1\nkind: Policy\n",
    "json object": b'{"a": 1}\n',
    "json array": b"[1, 2, 3]\n",
    "binary": bytes(range(256)) * 4,
    "pretty-printed json": b'{\n  "seq": 0\n}\n',
}


@pytest.mark.parametrize("content", NOT_LOGS.values(), ids=NOT_LOGS.keys())
def test_a_file_that_is_not_a_log_is_refused_untouched(tmp_path: Path, content, capsys) -> None:
    p = tmp_path / "somebodys-file"
    p.write_bytes(content)
    with pytest.raises(UserError, match=r"not a decision log|not a record"):
        DecisionLog(p).append({"id": "d0"})
    assert p.read_bytes() == content
    assert run(["audit", "verify", str(p)]) == 2
    assert "not a decision log" in capsys.readouterr().err
    for cmd in (["audit", "list", str(p)], ["audit", "show", str(p), "12345678"]):
        assert run(cmd) == 2


def test_a_directory_as_the_log_is_a_usage_error(tmp_path: Path, capsys) -> None:
    for cmd in (["audit", "verify"], ["audit", "list"], ["audit", "show", "--", "x" * 8]):
        argv = [*cmd[:2], str(tmp_path), *cmd[2:]]
        assert run(argv) == 2, argv
        assert "is a directory" in capsys.readouterr().err
    with pytest.raises(UserError, match="is a directory"):
        DecisionLog(tmp_path).append({"id": "d0"})


# lines that are valid JSON (or nearly) but not records, in the middle of a log
NOT_RECORDS = [b"[1, 2]", b'"a string"', b"null", b"42", b'{"seq": "x", "sha256": 1}',
               b'{"seq": true}', b"{}", b'{"seq": 2, "prev_sha256": [], "sha256": {}}',
               b"[" * 5000 + b"]" * 5000]


@pytest.mark.parametrize("line", NOT_RECORDS, ids=[repr(x[:20]) for x in NOT_RECORDS])
def test_a_line_that_is_not_a_record_is_named_never_an_internal_error(tmp_path: Path, line,
                                                                      capsys) -> None:
    p = tmp_path / "log.jsonl"
    _fill(p)
    lines = p.read_bytes().splitlines(keepends=True)
    p.write_bytes(b"".join([*lines[:2], line + b"\n", *lines[2:]]))
    assert run(["audit", "verify", str(p)]) == 1
    assert "line 3" in capsys.readouterr().err
    assert run(["audit", "list", str(p)]) == 0
    assert "not records (line 3)" in capsys.readouterr().err


def test_append_refuses_after_a_damaged_last_line(tmp_path: Path) -> None:
    p = tmp_path / "log.jsonl"
    _fill(p)
    p.write_bytes(p.read_bytes() + b"garbage that is not a record\n")
    before = p.read_bytes()
    with pytest.raises(UserError, match=r"last line .* is not a record"):
        DecisionLog(p).append({"id": "d"})
    assert p.read_bytes() == before


def test_append_reads_only_the_ends_of_the_log(tmp_path: Path) -> None:
    """A 256 MiB middle (sparse: no disk) is never read: appends allocate next to nothing."""
    import os
    import time
    import tracemalloc

    p = tmp_path / "log.jsonl"
    _fill(p, 2)
    first, last = p.read_bytes().splitlines(keepends=True)
    with p.open("wb") as fh:
        fh.write(first)
        fh.seek(256 << 20, os.SEEK_CUR)
        fh.write(b"\n" + last)
    log = DecisionLog(p)
    tracemalloc.start()
    t0 = time.perf_counter()
    for i in range(20):
        log.append({"id": f"x{i}"})
        DecisionLog(p).append({"id": f"y{i}"})  # a fresh instance: no cached head
    elapsed = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 4 << 20, peak
    assert elapsed < 10, elapsed


def test_two_writers_on_one_file_keep_the_chain(tmp_path: Path) -> None:
    """The cached head of one writer is not trusted after another one appended."""
    p = tmp_path / "log.jsonl"
    a, b = DecisionLog(p), DecisionLog(p)
    for i in range(10):
        (a if i % 3 else b).append({"id": f"d{i}"})
    res = verify(p)
    assert res.ok and res.records == 10


# ---- audit list / show ------------------------------------------------------------------------

def _varied_log(p: Path) -> None:
    log = DecisionLog(p)
    log.append({"id": "11111111-aaaa", "model": {"name": "credit-pd", "version": "1"},
                "verdict": "APPROVE", "target": "champion"})
    log.append({"id": "22222222-bbbb", "model": {"name": "credit-pd", "version": "2"},
                "verdict": "BLOCK", "target": "champion", "reasons": ["MRM-PERF-001 failed"]})
    log.append({"id": "33333333-cccc", "model": {"name": "fraud", "version": "7"},
                "verdict": "CONDITIONAL"}, kind="webhook_alias", extra={"alias": "prod"})
    log.append({"model": {"name": "credit-pd", "version": "2"}, "alias": "champion",
                "how": "api"}, kind="protected_alias_removed")
    log.append({"model": {"name": "fraud", "version": "7"}, "verified": True,
                "attestation": {"decision_id": "44444444-dddd", "verdict": "APPROVE"}},
               kind="attestation")


LIST_QUERIES = {
    "all": ([], ["11111111-aaaa", "22222222-bbbb", "33333333-cccc", None, "44444444-dddd"]),
    "by model": (["--model", "fraud"], ["33333333-cccc", "44444444-dddd"]),
    "by verdict": (["--verdict", "approve"], ["11111111-aaaa", "44444444-dddd"]),
    "by kind": (["--kind", "protected_alias_removed"], [None]),
    "model and verdict": (["--model", "credit-pd", "--verdict", "BLOCK"], ["22222222-bbbb"]),
    "since today": (["--since", "{today}"], ["11111111-aaaa", "22222222-bbbb",
                                             "33333333-cccc", None, "44444444-dddd"]),
    "until yesterday": (["--until", "{yesterday}"], []),
    "since tomorrow": (["--since", "{tomorrow}"], []),
    "until today (whole day)": (["--until", "{today}"], ["11111111-aaaa", "22222222-bbbb",
                                                         "33333333-cccc", None,
                                                         "44444444-dddd"]),
}


@pytest.mark.parametrize("args,expected", LIST_QUERIES.values(), ids=LIST_QUERIES.keys())
def test_audit_list_filters(tmp_path: Path, args, expected, capsys) -> None:
    import datetime as dt

    p = tmp_path / "log.jsonl"
    _varied_log(p)
    today = dt.datetime.now(dt.timezone.utc).date()
    days = {"today": today, "yesterday": today - dt.timedelta(days=1),
            "tomorrow": today + dt.timedelta(days=1)}
    args = [a.format(**{k: v.isoformat() for k, v in days.items()}) for a in args]
    assert run(["audit", "list", str(p), *args, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["decision_id"] for r in rows] == expected
    assert run(["audit", "list", str(p), *args]) == 0
    text = capsys.readouterr().out.splitlines()
    assert len(text) == 1 + len(expected)  # header + one line per record


def test_audit_list_fields_from_every_channel(tmp_path: Path, capsys) -> None:
    p = tmp_path / "log.jsonl"
    _varied_log(p)
    assert run(["audit", "list", str(p), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[2]["target"] == "prod" and rows[2]["kind"] == "webhook_alias"
    assert rows[3]["target"] == "champion" and rows[3]["version"] == "2"
    assert rows[4]["verdict"] == "APPROVE"


@pytest.mark.parametrize("args", [["--since", "2026-02-30"], ["--until", "yesterday"],
                                  ["--verdict", "MAYBE"], ["--format", "html"]])
def test_audit_list_bad_options_exit_2(tmp_path: Path, args, capsys) -> None:
    p = tmp_path / "log.jsonl"
    _varied_log(p)
    assert run(["audit", "list", str(p), *args]) == 2
    assert f"Invalid value for '{args[0]}'" in capsys.readouterr().err


def test_audit_show_by_id_prefix_and_seq(tmp_path: Path, capsys) -> None:
    p = tmp_path / "log.jsonl"
    _varied_log(p)
    assert run(["audit", "show", str(p), "22222222-bbbb"]) == 0
    out = capsys.readouterr().out
    assert "verdict     BLOCK" in out and "MRM-PERF-001 failed" in out
    assert run(["audit", "show", str(p), "22222222", "--format", "json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["seq"] == 1 and rec["decision"]["id"] == "22222222-bbbb"
    assert run(["audit", "show", str(p), "seq:3"]) == 0
    assert "protected_alias_removed" in capsys.readouterr().out


@pytest.mark.parametrize("ident,expected", [("99999999", "no record of decision"),
                                            ("1111", "at least its first 8"),
                                            ("seq:42", "no record with seq 42")])
def test_audit_show_unknown_decision_is_a_usage_error(tmp_path: Path, ident, expected,
                                                      capsys) -> None:
    p = tmp_path / "log.jsonl"
    _varied_log(p)
    assert run(["audit", "show", str(p), ident]) == 2
    assert expected in capsys.readouterr().err


def test_audit_show_ambiguous_prefix_is_a_usage_error(tmp_path: Path, capsys) -> None:
    p = tmp_path / "log.jsonl"
    log = DecisionLog(p)
    log.append({"id": "abcdefgh-1"})
    log.append({"id": "abcdefgh-2"})
    assert run(["audit", "show", str(p), "abcdefgh"]) == 2
    assert "several decision ids" in capsys.readouterr().err


HOSTILE_NAMES = [
    "credit\n::add-mask::secret",
    "x\r\n::stop-commands::token",
    "\x1b[31mred\x1b[0m\x1b]0;title\x07",
    "[bold red]markup[/] [link=file:///etc/passwd]x[/link]",
    "right\u202eleft\u200b\u2028next",
    "tab\there\\n",
    "lone \ud800 surrogate",
]


def _hostile_log(p: Path, name: str) -> None:
    DecisionLog(p).append({"id": "55555555-eeee", "model": {"name": name, "version": name},
                           "verdict": "BLOCK", "target": name, "reasons": [name],
                           "actor": name})


def _assert_inert(text: str, lines_expected: int | None = None) -> None:
    import unicodedata

    for line in text.splitlines():
        assert all(unicodedata.category(c) not in ("Cc", "Cf", "Zl", "Zp") for c in line), line
        assert not line.startswith("::")
    if lines_expected is not None:
        assert len(text.splitlines()) == lines_expected


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_audit_output_prints_record_values_inert(tmp_path: Path, name, capsys) -> None:
    p = tmp_path / "log.jsonl"
    _hostile_log(p, name)
    DecisionLog(p).append({"id": "after"})
    assert verify(p).ok
    assert run(["audit", "list", str(p), "--model", name]) == 0
    _assert_inert(capsys.readouterr().out, lines_expected=2)
    assert run(["audit", "show", str(p), "55555555"]) == 0
    out = capsys.readouterr().out
    _assert_inert(out)
    if "[bold red]" in name:
        assert "[bold red]markup[/]" in out  # literal, never rendered
    for fmt_args in (["audit", "list", str(p), "--format", "json"],
                     ["audit", "show", str(p), "55555555", "--format", "json"]):
        assert run(fmt_args) == 0
        out = capsys.readouterr().out
        _assert_inert(out)
        data = json.loads(out)
        row = data[0] if isinstance(data, list) else data["decision"]["model"]
        assert row["name" if "name" in row else "model"] == name  # json keeps the exact value


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(min_size=1, max_size=80))
def test_property_any_model_name_prints_as_one_inert_line(tmp_path_factory, name) -> None:
    from mrm_gate.audit.query import inert

    shown = inert(name)
    _assert_inert(shown, lines_expected=None)
    assert "\n" not in shown and "\x1b" not in shown
    p = tmp_path_factory.mktemp("names") / "log.jsonl"
    _hostile_log(p, name)
    from click.testing import CliRunner

    from mrm_gate.cli import cli

    result = CliRunner().invoke(cli, ["audit", "list", str(p)])
    assert result.exit_code == 0
    _assert_inert(result.output, lines_expected=2)


def test_audit_list_does_not_wrap_without_a_tty(tmp_path: Path, capsys) -> None:
    p = tmp_path / "log.jsonl"
    log = DecisionLog(p)
    for i in range(3):
        log.append({"id": f"id-{i}-" + "z" * 60, "model": {"name": "m" * 150, "version": "1"},
                    "verdict": "APPROVE", "target": "t" * 90})
    assert run(["audit", "list", str(p)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    assert [line.split()[0] for line in lines] == ["seq", "0", "1", "2"]
