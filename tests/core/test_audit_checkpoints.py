"""Signed checkpoints anchor the decision log's head: tail truncation and rewrites are named.

Without an anchor a shortened or rewritten-at-the-end log is still a valid chain (the tests
below show `verify` says so, with a warning); with a checkpoint (HMAC or Ed25519) or an
`--expect-head`, every such attack is a problem naming the missing or changed records.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mrm_gate import attestation
from mrm_gate.audit import (
    Checkpoint,
    CheckpointError,
    CheckpointFailed,
    CheckpointStore,
    CheckpointWriter,
    DecisionLog,
    FileCheckpointStore,
    record_hash,
    verify,
)
from mrm_gate.cli import run
from mrm_gate.errors import UserError

SECRET = "s3cret-" + "x" * 40


@pytest.fixture(params=["hmac", "ed25519"])
def keys(request, tmp_path: Path, monkeypatch) -> tuple[str, str]:
    """(signing key spec, verification key spec) of each supported kind."""
    if request.param == "hmac":
        monkeypatch.setenv("MRM_CP_KEY", SECRET)
        return "env:MRM_CP_KEY", "env:MRM_CP_KEY"
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    priv = tmp_path / "signing.pem"
    pub = tmp_path / "verify.pem"
    priv.write_bytes(private.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    pub.write_bytes(private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return str(priv), str(pub)


def _anchored_log(tmp_path: Path, key_spec: str, n: int = 6) -> tuple[Path, Path]:
    log_path, cp_path = tmp_path / "log.jsonl", tmp_path / "checkpoints.jsonl"
    log = DecisionLog(log_path, checkpoint=CheckpointWriter.to_file(cp_path, key_spec))
    for i in range(n):
        log.append({"id": f"d{i}", "verdict": "APPROVE" if i % 2 else "BLOCK"})
    return log_path, cp_path


def _lines(p: Path) -> list[str]:
    return p.read_text().splitlines()


def _rehash(records: list[dict], start: int) -> list[dict]:
    """Recompute hashes and links from `start` on: what an attacker who can write does."""
    for i in range(start, len(records)):
        records[i]["prev_sha256"] = records[i - 1]["sha256"] if i else "0" * 64
        records[i]["sha256"] = record_hash(records[i])
    return records


def _edit_last(lines: list[str]) -> list[str]:
    recs = [json.loads(x) for x in lines]
    recs[-1]["decision"]["verdict"] = "APPROVE"
    recs[-1]["decision"]["id"] = "forged"
    return [json.dumps(r) for r in _rehash(recs, len(recs) - 1)]


def _replace_tail(lines: list[str]) -> list[str]:
    recs = [json.loads(x) for x in lines][:-2]
    recs.append({**recs[-1], "seq": recs[-1]["seq"] + 1, "decision": {"id": "forged"}})
    return [json.dumps(r) for r in _rehash(recs, len(recs) - 1)]


def _new_log(lines: list[str]) -> list[str]:
    recs = [json.loads(x) for x in lines]
    recs[0]["recorded_at"] = "2020-01-01T00:00:00+00:00"
    return [json.dumps(r) for r in _rehash(recs, 0)]


# attack -> text the problem must contain
TAIL_ATTACKS = {
    "last record removed": (lambda ls: ls[:-1], "records 5..5 are missing from the end"),
    "last three removed": (lambda ls: ls[:-3], "records 3..5 are missing from the end"),
    "all removed": (lambda ls: [], "the log is empty"),
    "last record edited, hash recomputed": (_edit_last, "rewritten at or below seq 5"),
    "last two replaced by one forged record": (_replace_tail, "records 5..5 are missing"),
    "whole log rewritten from its first record": (_new_log, "the log was replaced"),
}


def _write(p: Path, lines: list[str]) -> None:
    p.write_text("".join(line + "\n" for line in lines))


@pytest.mark.parametrize("attack,expected", TAIL_ATTACKS.values(), ids=TAIL_ATTACKS.keys())
def test_tail_attacks_verify_without_anchor_but_are_named_against_a_checkpoint(
        tmp_path: Path, keys, attack, expected, capsys) -> None:
    sign_spec, verify_spec = keys
    log_path, cp_path = _anchored_log(tmp_path, sign_spec)
    _write(log_path, attack(_lines(log_path)))
    unanchored = verify(log_path)
    assert unanchored.ok, unanchored.problems  # the gap the checkpoints close
    assert any("cannot be detected" in w for w in unanchored.warnings)

    res = verify(log_path, checkpoints=FileCheckpointStore(cp_path),
                 keys=[attestation.load_key(verify_spec)])
    assert not res.ok
    assert any(expected in p for p in res.problems), res.problems
    assert run(["audit", "verify", str(log_path), "--checkpoint", str(cp_path),
                "--key", verify_spec]) == 1
    assert expected in capsys.readouterr().err


@pytest.mark.parametrize("attack,expected", TAIL_ATTACKS.values(), ids=TAIL_ATTACKS.keys())
def test_tail_attacks_are_named_against_an_expected_head(tmp_path: Path, attack, expected,
                                                         capsys) -> None:
    log_path = tmp_path / "log.jsonl"
    log = DecisionLog(log_path)
    for i in range(6):
        log.append({"id": f"d{i}"})
    assert run(["audit", "verify", str(log_path)]) == 0
    out = capsys.readouterr().out
    head = out.split("head ")[1].split()[0]
    _write(log_path, attack(_lines(log_path)))
    assert run(["audit", "verify", str(log_path), "--expect-head", head]) == 1
    err = capsys.readouterr().err
    if "replaced" not in expected:  # an expected head carries no log id: it names the seq
        assert expected in err
    assert "TAMPERED" in err


def test_intact_anchored_log_verifies_without_warnings(tmp_path: Path, keys, capsys) -> None:
    sign_spec, verify_spec = keys
    log_path, cp_path = _anchored_log(tmp_path, sign_spec)
    assert len(_lines(cp_path)) == 6  # one checkpoint per append
    res = verify(log_path, checkpoints=FileCheckpointStore(cp_path),
                 keys=[attestation.load_key(verify_spec)])
    assert res.ok and res.anchored_seq == 5 and res.head_seq == 5 and not res.warnings
    assert run(["audit", "verify", str(log_path), "--checkpoint", str(cp_path),
                "--checkpoint-key", verify_spec]) == 0
    captured = capsys.readouterr()
    assert "anchored" in captured.out and "warning" not in captured.err


def test_no_anchor_is_a_plain_warning_with_exit_0(tmp_path: Path, capsys) -> None:
    p = tmp_path / "log.jsonl"
    DecisionLog(p).append({"id": "d0"})
    assert run(["audit", "verify", str(p)]) == 0
    captured = capsys.readouterr()
    assert "chain intact" in captured.out
    assert "tail truncation" not in captured.err  # not a problem ...
    assert "removal of the newest records" in captured.err  # ... but said plainly


def test_records_after_the_newest_checkpoint_are_reported_unanchored(tmp_path: Path,
                                                                     keys) -> None:
    sign_spec, verify_spec = keys
    log_path, cp_path = _anchored_log(tmp_path, sign_spec, n=3)
    DecisionLog(log_path).append({"id": "late"})  # a writer without checkpoints
    res = verify(log_path, checkpoints=FileCheckpointStore(cp_path),
                 keys=[attestation.load_key(verify_spec)])
    assert res.ok
    assert any("records 3..3 are newer than the newest anchor" in w for w in res.warnings)


def _resign_payload(envelope: dict, change: dict) -> dict:
    body = json.loads(base64.b64decode(envelope["payload"]))
    body.update(change)
    return {**envelope, "payload": base64.b64encode(json.dumps(body).encode()).decode()}


CHECKPOINT_TAMPERING = {
    "payload edited (seq lowered)": (
        lambda envs: [*envs[:-1], _resign_payload(envs[-1], {"seq": 2})],
        "signature is invalid"),
    "signature of another checkpoint": (
        lambda envs: [*envs[:-1], {**envs[-1], "sig": envs[0]["sig"]}],
        "signature is invalid"),
    "unknown key id": (lambda envs: [*envs[:-1], {**envs[-1], "kid": "hmac:feedface"}],
                       "not trusted"),
    "not JSON": (lambda envs: [*envs[:-1], "garbage"], "not valid JSON"),
    "another envelope type": (lambda envs: [*envs[:-1], {**envs[-1], "type": "x"}],
                              "not a mrm-gate.checkpoint/v1 envelope"),
    "emptied": (lambda envs: [], "holds no valid checkpoint"),
}


@pytest.mark.parametrize("tamper,expected", CHECKPOINT_TAMPERING.values(),
                         ids=CHECKPOINT_TAMPERING.keys())
def test_altered_checkpoints_are_problems(tmp_path: Path, keys, tamper, expected) -> None:
    sign_spec, verify_spec = keys
    log_path, cp_path = _anchored_log(tmp_path, sign_spec)
    envs = [json.loads(x) for x in _lines(cp_path)]
    altered = tamper(envs)
    cp_path.write_text("".join((e if isinstance(e, str) else json.dumps(e)) + "\n"
                               for e in altered))
    res = verify(log_path, checkpoints=FileCheckpointStore(cp_path),
                 keys=[attestation.load_key(verify_spec)])
    assert not res.ok
    assert any(expected in p for p in res.problems), res.problems


def test_checkpoint_signed_with_another_key_is_not_trusted(tmp_path: Path,
                                                          monkeypatch) -> None:
    monkeypatch.setenv("OTHER_KEY", "o" * 40)
    monkeypatch.setenv("MRM_CP_KEY", SECRET)
    log_path, cp_path = _anchored_log(tmp_path, "env:OTHER_KEY")
    res = verify(log_path, checkpoints=FileCheckpointStore(cp_path),
                 keys=[attestation.load_key("env:MRM_CP_KEY")])
    assert not res.ok and any("not trusted" in p for p in res.problems)


def test_domain_separation_from_attestations(monkeypatch) -> None:
    """An attestation signature never verifies as a checkpoint, and the reverse."""
    monkeypatch.setenv("MRM_CP_KEY", SECRET)
    key = attestation.load_key("env:MRM_CP_KEY")
    cp = Checkpoint.now("a" * 64, 3, "b" * 64)
    as_attestation = attestation.sign(cp.payload(), key)
    with pytest.raises(CheckpointError):
        Checkpoint.verify({**as_attestation, "type": "mrm-gate.checkpoint/v1"}, [key])
    envelope = cp.sign(key)
    assert Checkpoint.verify(envelope, [key]) == cp
    with pytest.raises(attestation.AttestationError):
        attestation.open_envelope({**envelope, "type": attestation.ATTESTATION_TYPE}, [key])


def test_a_public_key_cannot_sign_checkpoints(tmp_path: Path, keys) -> None:
    sign_spec, verify_spec = keys
    if sign_spec == verify_spec:
        pytest.skip("HMAC has no public half")
    with pytest.raises(UserError, match="public key"):
        CheckpointWriter.to_file(tmp_path / "cp.jsonl", verify_spec)


class MemoryStore:
    """The smallest CheckpointStore (write, latest): the shape the registry store takes."""

    def __init__(self) -> None:
        self.items: list[dict] = []

    def write(self, cp: dict) -> None:
        self.items.append(json.loads(json.dumps(cp)))

    def latest(self) -> dict | None:
        return self.items[-1] if self.items else None


def test_any_store_with_write_and_latest_anchors_the_log(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MRM_CP_KEY", SECRET)
    key = attestation.load_key("env:MRM_CP_KEY")
    store = MemoryStore()
    assert isinstance(store, CheckpointStore)
    log_path = tmp_path / "log.jsonl"
    log = DecisionLog(log_path)
    for i in range(4):
        log.append({"id": f"d{i}"}, checkpoint=CheckpointWriter(store, key))
    assert verify(log_path, checkpoints=store, keys=[key]).ok
    _write(log_path, _lines(log_path)[:-1])
    res = verify(log_path, checkpoints=store, keys=[key])
    assert any("records 3..3 are missing from the end" in p for p in res.problems)


def test_a_failed_checkpoint_write_is_raised_with_the_appended_record(tmp_path: Path,
                                                                     monkeypatch) -> None:
    monkeypatch.setenv("MRM_CP_KEY", SECRET)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    writer = CheckpointWriter.to_file(blocker / "cp.jsonl", "env:MRM_CP_KEY")
    log_path = tmp_path / "log.jsonl"
    with pytest.raises(CheckpointFailed) as info:
        DecisionLog(log_path).append({"id": "d0"}, checkpoint=writer)
    assert info.value.record["seq"] == 0
    assert verify(log_path).records == 1  # the record is in the log, not anchored


def test_the_checkpoint_file_may_not_be_the_log(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("MRM_CP_KEY", SECRET)
    log_path = tmp_path / "log.jsonl"
    log = DecisionLog(log_path, checkpoint=CheckpointWriter.to_file(log_path, "env:MRM_CP_KEY"))
    with pytest.raises(UserError, match="apart from the log"):
        log.append({"id": "d0"})
    DecisionLog(log_path).append({"id": "d0"})
    assert run(["audit", "checkpoint", str(log_path), "--checkpoint", str(log_path),
                "--key", "env:MRM_CP_KEY"]) == 2
    assert run(["audit", "verify", str(log_path), "--checkpoint", str(log_path),
                "--key", "env:MRM_CP_KEY"]) == 2


def test_a_foreign_file_is_never_used_as_checkpoint_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MRM_CP_KEY", SECRET)
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    log = DecisionLog(tmp_path / "log.jsonl",
                      checkpoint=CheckpointWriter.to_file(notes, "env:MRM_CP_KEY"))
    with pytest.raises(CheckpointFailed, match="not a checkpoint file"):
        log.append({"id": "d0"})
    assert notes.read_text() == "my notes\n"


def test_audit_checkpoint_command_anchors_and_refuses_a_tampered_log(tmp_path: Path, keys,
                                                                     capsys) -> None:
    sign_spec, verify_spec = keys
    log_path, cp_path = tmp_path / "log.jsonl", tmp_path / "cp.jsonl"
    log = DecisionLog(log_path)
    for i in range(3):
        log.append({"id": f"d{i}"})
    args = ["--checkpoint", str(cp_path), "--key"]
    assert run(["audit", "checkpoint", str(log_path), *args, sign_spec]) == 0
    assert "checkpoint: head 2:" in capsys.readouterr().out
    _write(log_path, _lines(log_path)[:-1])
    assert run(["audit", "verify", str(log_path), *args, verify_spec]) == 1
    assert "records 2..2 are missing" in capsys.readouterr().err
    assert run(["audit", "checkpoint", str(log_path), *args, sign_spec]) == 1  # not anchored
    assert len(_lines(cp_path)) == 1


BAD_USAGE = {
    "checkpoint file missing": (["--checkpoint", "{tmp}/none.jsonl", "--key", "env:MRM_CP_KEY"],
                                "does not exist"),
    "checkpoint without key": (["--checkpoint", "{cp}"], "needs the key"),
    "key without checkpoint": (["--key", "env:MRM_CP_KEY"], "give the checkpoint file"),
    "unset key variable": (["--checkpoint", "{cp}", "--key", "env:NOPE_UNSET"], "not set"),
    "expect-head not SEQ:SHA": (["--expect-head", "5:abc"], "is not SEQ:SHA256"),
    "checkpoint is a directory": (["--checkpoint", "{tmp}", "--key", "env:MRM_CP_KEY"],
                                  "is a directory"),
}


@pytest.mark.parametrize("args,expected", BAD_USAGE.values(), ids=BAD_USAGE.keys())
def test_bad_verify_options_exit_2_with_a_message(tmp_path: Path, monkeypatch, args, expected,
                                                  capsys) -> None:
    monkeypatch.setenv("MRM_CP_KEY", SECRET)
    log_path, cp_path = _anchored_log(tmp_path, "env:MRM_CP_KEY", n=2)
    args = [a.format(tmp=tmp_path, cp=cp_path) for a in args]
    assert run(["audit", "verify", str(log_path), *args]) == 2
    assert expected in capsys.readouterr().err


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 10), data=st.data())
def test_property_any_cut_or_suffix_rewrite_below_the_checkpoint_is_detected(
        tmp_path_factory, n, data) -> None:
    """Truncating k >= 1 records, or rewriting (and re-chaining) any suffix, never verifies
    against the checkpoints, whatever the length and place."""
    tmp = tmp_path_factory.mktemp("prop")
    key = attestation.Key(alg="HS256", kid="hmac:test", secret=SECRET.encode())
    store = FileCheckpointStore(tmp / "cp.jsonl")
    log_path = tmp / "log.jsonl"
    log = DecisionLog(log_path, checkpoint=CheckpointWriter(store, key))
    for i in range(n):
        log.append({"id": f"d{i}", "n": data.draw(st.integers(0, 3))})
    lines = _lines(log_path)
    if data.draw(st.booleans()):
        k = data.draw(st.integers(1, n))
        attacked = lines[: n - k]
    else:
        start = data.draw(st.integers(0, n - 1))
        recs = [json.loads(x) for x in lines]
        recs[start]["decision"]["id"] = "forged"
        attacked = [json.dumps(r) for r in _rehash(recs, start)]
    _write(log_path, attacked)
    assert verify(log_path).ok  # the chain alone cannot tell
    assert not verify(log_path, checkpoints=store, keys=[key]).ok
