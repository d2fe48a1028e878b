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
from mrm_gate.attestation import dsse
from mrm_gate.audit import (
    Checkpoint,
    CheckpointError,
    CheckpointFailed,
    CheckpointStore,
    CheckpointWriter,
    DecisionLog,
    FileCheckpointStore,
    legacy_checkpoint,
    record_hash,
    verify,
)
from mrm_gate.audit.checkpoint import CHECKPOINT_PAYLOAD_TYPE
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


@pytest.fixture
def keypair(keys) -> tuple[attestation.Key, attestation.Key]:
    """(signing key, verification key) of each supported kind."""
    return attestation.load_key(keys[0]), attestation.load_key(keys[1])


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


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _canon(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def _body(envelope: dict) -> dict:
    return json.loads(base64.b64decode(envelope["payload"]))


def _with_payload(envelope: dict, payload: bytes) -> dict:
    return {**envelope, "payload": _b64(payload)}


def _with_sig(envelope: dict, **change) -> dict:
    sig = {k: v for k, v in {**envelope["signatures"][0], **change}.items() if v is not None}
    return {**envelope, "signatures": [sig]}


def _last(fn):
    """A tampering of the newest checkpoint only (the others stay valid)."""
    return lambda envs: [*envs[:-1], fn(envs[-1], envs)]


# tampering with the (DSSE) checkpoint file -> text the problem must contain
CHECKPOINT_TAMPERING = {
    "payload edited (seq lowered)": (
        _last(lambda e, _: _with_payload(e, _canon({**_body(e), "seq": 2}))),
        "signature is invalid"),
    "payload edited (head replaced)": (
        _last(lambda e, _: _with_payload(e, _canon({**_body(e), "head_sha256": "c" * 64}))),
        "signature is invalid"),
    "payload re-serialised (same values, other bytes)": (
        _last(lambda e, _: _with_payload(e, json.dumps(_body(e), indent=1).encode())),
        "signature is invalid"),
    "payload of another checkpoint": (
        _last(lambda e, envs: {**e, "payload": envs[0]["payload"]}), "signature is invalid"),
    "signature of another checkpoint": (
        _last(lambda e, envs: _with_sig(e, sig=envs[0]["signatures"][0]["sig"])),
        "signature is invalid"),
    "signature of another checkpoint, no key id": (
        _last(lambda e, envs: _with_sig(e, sig=envs[0]["signatures"][0]["sig"], keyid=None)),
        "signature is invalid"),
    "signature flipped": (
        _last(lambda e, _: _with_sig(e, sig=_b64(bytes(
            [base64.b64decode(e["signatures"][0]["sig"])[0] ^ 1])
            + base64.b64decode(e["signatures"][0]["sig"])[1:]))),
        "signature is invalid"),
    "empty signature": (_last(lambda e, _: _with_sig(e, sig="")), "signature is invalid"),
    "signature not base64": (_last(lambda e, _: _with_sig(e, sig="%%%")), "not valid base64"),
    "no signatures": (_last(lambda e, _: {**e, "signatures": []}), "has no signatures"),
    "signatures not a list": (_last(lambda e, _: {**e, "signatures": {}}), "has no signatures"),
    "unknown key id": (_last(lambda e, _: _with_sig(e, keyid="hmac:feedface")),
                       "not trusted"),
    "Ed25519 key id on an HMAC signature or the reverse": (
        _last(lambda e, _: _with_sig(e, keyid=("ed25519:" if e["signatures"][0]["keyid"]
                                                .startswith("hmac:") else "hmac:") + "0" * 16)),
        "not trusted"),
    "payloadType of an attestation": (
        _last(lambda e, _: {**e, "payloadType": "application/vnd.in-toto+json"}),
        "not a checkpoint"),
    "payloadType removed": (_last(lambda e, _: {k: v for k, v in e.items()
                                                if k != "payloadType"}), "not a checkpoint"),
    "an extra envelope field": (_last(lambda e, _: {**e, "type": "mrm-gate.checkpoint/v1"}),
                                "malformed envelope"),
    "not JSON": (_last(lambda e, _: "garbage"), "not valid JSON"),
    "a JSON list": (_last(lambda e, _: [e]), "not a checkpoint envelope"),
    "emptied": (lambda envs: [], "holds no valid checkpoint"),
}


@pytest.mark.parametrize("tamper,expected", CHECKPOINT_TAMPERING.values(),
                         ids=CHECKPOINT_TAMPERING.keys())
def test_altered_checkpoints_are_problems(tmp_path: Path, keys, tamper, expected,
                                          capsys) -> None:
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
    assert run(["audit", "verify", str(log_path), "--checkpoint", str(cp_path),
                "--key", verify_spec]) == 1
    assert expected in capsys.readouterr().err


def test_new_checkpoints_are_dsse_envelopes_with_a_canonical_payload(tmp_path: Path,
                                                                      keys) -> None:
    sign_spec, verify_spec = keys
    log_path, cp_path = _anchored_log(tmp_path, sign_spec, n=2)
    key = attestation.load_key(sign_spec)
    recs = [json.loads(x) for x in _lines(log_path)]
    for line, rec in zip(_lines(cp_path), recs, strict=True):
        env = json.loads(line)
        assert set(env) == {"payload", "payloadType", "signatures"}
        assert env["payloadType"] == CHECKPOINT_PAYLOAD_TYPE
        assert [s["keyid"] for s in env["signatures"]] == [key.kid]
        assert key.kid.startswith(("hmac:", "ed25519:"))
        payload = base64.b64decode(env["payload"])
        assert payload == dsse.canonical(json.loads(payload))  # RFC 8785 form
        assert set(json.loads(payload)) == {"log_id", "seq", "head_sha256", "at"}
        cp = Checkpoint.verify(env, [attestation.load_key(verify_spec)])
        assert (cp.log_id, cp.seq, cp.head_sha256) == (recs[0]["sha256"], rec["seq"],
                                                       rec["sha256"])
        assert not cp.deprecated


def test_a_checkpoint_verifies_with_an_independent_dsse_implementation(tmp_path: Path) -> None:
    """sigstore-python's PAE and pyca/cryptography, no mrm-gate code on the verifying side."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from sigstore.dsse import _pae

    private = Ed25519PrivateKey.generate()
    (tmp_path / "k.pem").write_bytes(private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    env = Checkpoint.now("a" * 64, 7, "b" * 64, label="ci").sign(
        attestation.load_key(str(tmp_path / "k.pem")))
    payload = base64.b64decode(env["payload"])
    private.public_key().verify(base64.b64decode(env["signatures"][0]["sig"]),
                                _pae(env["payloadType"], payload))  # raises if not
    assert json.loads(payload)["label"] == "ci"


def test_a_label_is_signed_and_read_back(monkeypatch) -> None:
    monkeypatch.setenv("MRM_CP_KEY", SECRET)
    key = attestation.load_key("env:MRM_CP_KEY")
    cp = Checkpoint.now("a" * 64, 1, "b" * 64, label="gated server")
    assert Checkpoint.verify(cp.sign(key), [key]) == cp
    store = MemoryStore()
    CheckpointWriter(store, key, label="nightly").checkpoint("a" * 64, 2, "b" * 64)
    assert Checkpoint.verify(store.latest(), [key]).label == "nightly"


def _signed_payload(key, body) -> dict:
    """A checkpoint-typed envelope over `body`, signed with the trusted key: only the payload
    check stands between it and an anchor."""
    return dsse.sign(body if isinstance(body, bytes) else _canon(body),
                     CHECKPOINT_PAYLOAD_TYPE, key)


GOOD_BODY = {"log_id": "a" * 64, "seq": 3, "head_sha256": "b" * 64,
             "at": "2026-01-01T00:00:00+00:00"}
BAD_PAYLOADS = {
    "not JSON": b"not json",
    "not canonical (whitespace)": json.dumps(GOOD_BODY).encode(),
    "duplicate key": b'{"at":"x","at":"y","head_sha256":"' + b"b" * 64 + b'"}',
    "a list": [GOOD_BODY],
    "an unknown field": {**GOOD_BODY, "type": "mrm-gate.checkpoint/v1"},
    "no seq": {k: v for k, v in GOOD_BODY.items() if k != "seq"},
    "no log_id": {k: v for k, v in GOOD_BODY.items() if k != "log_id"},
    "seq negative": {**GOOD_BODY, "seq": -1},
    "seq a boolean": {**GOOD_BODY, "seq": True},
    "seq a string": {**GOOD_BODY, "seq": "3"},
    "head not a sha256": {**GOOD_BODY, "head_sha256": "B" * 64},
    "log_id too short": {**GOOD_BODY, "log_id": "a" * 63},
    "at not a string": {**GOOD_BODY, "at": 0},
    "label empty": {**GOOD_BODY, "label": ""},
    "label with a newline": {**GOOD_BODY, "label": "ok\n\x1b[31mAPPROVED"},
    "label not a string": {**GOOD_BODY, "label": ["x"]},
    "label too long": {**GOOD_BODY, "label": "x" * 201},
}


@pytest.mark.parametrize("body", BAD_PAYLOADS.values(), ids=BAD_PAYLOADS.keys())
def test_a_signed_envelope_whose_payload_is_not_a_checkpoint_is_refused(monkeypatch,
                                                                        body) -> None:
    monkeypatch.setenv("MRM_CP_KEY", SECRET)
    key = attestation.load_key("env:MRM_CP_KEY")
    assert Checkpoint.verify(_signed_payload(key, GOOD_BODY), [key]).seq == 3  # the control
    with pytest.raises(CheckpointError, match="payload"):
        Checkpoint.verify(_signed_payload(key, body), [key])


def _ed25519_public(tmp_path: Path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    raw = private.public_key().public_bytes(serialization.Encoding.Raw,
                                            serialization.PublicFormat.Raw)
    (tmp_path / "verify.pem").write_bytes(pem)
    return attestation.load_key(str(tmp_path / "verify.pem")), pem, raw


@pytest.mark.parametrize("secret_from", ["raw public key", "PEM public key", "key id"])
@pytest.mark.parametrize("keyid_as", ["the Ed25519 key id", "an hmac key id", "absent", "empty"])
def test_an_hmac_made_with_public_material_never_passes_for_ed25519(tmp_path: Path,
                                                                     secret_from, keyid_as):
    """The `alg` confusion trick: everything a verifier of an Ed25519 key holds is public, so an
    HMAC keyed with it (under any key id) must never verify as that key's checkpoint."""
    import hashlib
    import hmac as hmac_mod

    from securesystemslib.dsse import Envelope

    public, pem, raw = _ed25519_public(tmp_path)
    secret = {"raw public key": raw, "PEM public key": pem,
              "key id": public.kid.encode()}[secret_from]
    forged_key = attestation.Key(alg="HS256", kid="hmac:" + hmac_mod.new(
        secret, b"mrm-gate key id", hashlib.sha256).hexdigest()[:16], secret=secret)
    keyid = {"the Ed25519 key id": public.kid, "an hmac key id": forged_key.kid,
             "absent": None, "empty": ""}[keyid_as]
    payload = _canon(GOOD_BODY)
    sig = hmac_mod.new(secret, Envelope(payload, CHECKPOINT_PAYLOAD_TYPE, {}).pae(),
                       hashlib.sha256).digest()
    env = {"payload": _b64(payload), "payloadType": CHECKPOINT_PAYLOAD_TYPE,
           "signatures": [{k: v for k, v in {"keyid": keyid, "sig": _b64(sig)}.items()
                           if v is not None}]}
    expected = "not trusted" if keyid_as == "an hmac key id" else "signature is invalid"
    with pytest.raises(CheckpointError, match=expected):
        Checkpoint.verify(env, [public])
    # the old envelope: an HS256 claim is never checked with an Ed25519 key
    old = legacy_checkpoint.sign(GOOD_BODY, forged_key)
    for kid in (public.kid, forged_key.kid):
        with pytest.raises(CheckpointError, match="not trusted"):
            Checkpoint.verify({**old, "kid": kid}, [public])
        with pytest.raises(CheckpointError, match="signature is invalid" if kid == public.kid
                           else "not trusted"):
            Checkpoint.verify({**old, "kid": kid, "alg": "Ed25519"}, [public])


def test_checkpoint_signed_with_another_key_is_not_trusted(tmp_path: Path,
                                                          monkeypatch) -> None:
    monkeypatch.setenv("OTHER_KEY", "o" * 40)
    monkeypatch.setenv("MRM_CP_KEY", SECRET)
    log_path, cp_path = _anchored_log(tmp_path, "env:OTHER_KEY")
    res = verify(log_path, checkpoints=FileCheckpointStore(cp_path),
                 keys=[attestation.load_key("env:MRM_CP_KEY")])
    assert not res.ok and any("not trusted" in p for p in res.problems)


STATEMENT = {"_type": "https://in-toto.io/Statement/v1",
             "subject": [{"name": "model", "digest": {"sha256": "a" * 64}}],
             "predicateType": "https://mrm-gate.dev/attestation/model-risk-decision/v1",
             "predicate": {"verdict": "APPROVE"}}


def test_domain_separation_an_attestation_never_passes_as_a_checkpoint(keypair) -> None:
    signer, verifier = keypair
    record = {"type": attestation.ATTESTATION_TYPE, "decision_id": "d-1",
              "model": {"name": "credit", "version": "3", "sha256": "a" * 64},
              "target": "champion", "verdict": "APPROVE", "tier": "high",
              "policy": {"name": "p", "version": "1", "sha256": "b" * 64},
              "evidence_sha256": "e" * 64, "decided_at": "2026-01-01T00:00:00+00:00",
              "failing_controls": [], "waived_controls": [], "actor": "ci",
              "tool_version": "0.1.0"}
    att_env = attestation.sign(record, signer)
    assert attestation.open_envelope(att_env, [verifier])["verdict"] == "APPROVE"  # control
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        Checkpoint.verify(att_env, [verifier])
    with pytest.raises(CheckpointError, match="signature is invalid"):  # PAE binds the type
        Checkpoint.verify({**att_env, "payloadType": CHECKPOINT_PAYLOAD_TYPE}, [verifier])
    # the same key signing a Statement under the checkpoint type: still not a checkpoint
    with pytest.raises(CheckpointError, match="payload is not a checkpoint"):
        Checkpoint.verify(dsse.sign(dsse.canonical(STATEMENT), CHECKPOINT_PAYLOAD_TYPE, signer),
                          [verifier])
    # ... and a checkpoint payload under the attestation's type is not one either
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        Checkpoint.verify(dsse.sign(_canon(GOOD_BODY), attestation.IN_TOTO_PAYLOAD_TYPE,
                                    signer), [verifier])


def test_domain_separation_a_checkpoint_never_passes_as_an_attestation(keypair) -> None:
    signer, verifier = keypair
    cp_env = Checkpoint.now("a" * 64, 3, "b" * 64).sign(signer)
    assert Checkpoint.verify(cp_env, [verifier]).seq == 3  # the control
    with pytest.raises(attestation.AttestationError, match="payloadType"):
        attestation.open_envelope(cp_env, [verifier])
    with pytest.raises(attestation.AttestationError, match="signature is invalid"):
        attestation.open_envelope({**cp_env, "payloadType": attestation.IN_TOTO_PAYLOAD_TYPE},
                                  [verifier])
    with pytest.raises(attestation.AttestationError):  # signed as in-toto, but no Statement
        attestation.open_envelope(dsse.sign(_canon(GOOD_BODY),
                                            attestation.IN_TOTO_PAYLOAD_TYPE, signer),
                                  [verifier])


# --- the old envelope, one more release -----------------------------------------------------

def _legacy_file(tmp_path: Path, key, n: int = 4) -> tuple[Path, Path]:
    """A log anchored by old-format checkpoints, as the previous release wrote them."""
    log_path, cp_path = tmp_path / "log.jsonl", tmp_path / "checkpoints.jsonl"
    log = DecisionLog(log_path)
    first = None
    for i in range(n):
        rec = log.append({"id": f"d{i}"})
        first = first or rec
        body = {"log_id": first["sha256"], "seq": rec["seq"], "head_sha256": rec["sha256"],
                "at": "2026-01-01T00:00:00+00:00"}
        with cp_path.open("a") as fh:
            fh.write(json.dumps(legacy_checkpoint.sign(body, key), sort_keys=True,
                                separators=(",", ":")) + "\n")
    return log_path, cp_path


def test_old_checkpoints_still_anchor_the_log_with_a_deprecation_warning(tmp_path: Path, keys,
                                                                         capsys) -> None:
    sign_spec, verify_spec = keys
    log_path, cp_path = _legacy_file(tmp_path, attestation.load_key(sign_spec))
    verifier = attestation.load_key(verify_spec)
    res = verify(log_path, checkpoints=FileCheckpointStore(cp_path), keys=[verifier])
    assert res.ok and res.anchored_seq == 3, res.problems
    assert [w for w in res.warnings if "deprecated checkpoint format" in w] == [
        f"checkpoint line 1 and 3 more: {legacy_checkpoint.DEPRECATION}"]
    assert run(["audit", "verify", str(log_path), "--checkpoint", str(cp_path),
                "--key", verify_spec]) == 0
    assert "deprecated checkpoint format mrm-gate.checkpoint/v1" in capsys.readouterr().err
    # still an anchor: truncation below an old checkpoint is caught
    _write(log_path, _lines(log_path)[:-1])
    res = verify(log_path, checkpoints=FileCheckpointStore(cp_path), keys=[verifier])
    assert any("records 3..3 are missing from the end" in p for p in res.problems)


def test_new_writes_to_an_old_checkpoint_file_are_dsse_and_both_verify(tmp_path: Path,
                                                                       keys) -> None:
    sign_spec, verify_spec = keys
    key = attestation.load_key(sign_spec)
    log_path, cp_path = _legacy_file(tmp_path, key, n=2)
    log = DecisionLog(log_path, checkpoint=CheckpointWriter(FileCheckpointStore(cp_path), key))
    log.append({"id": "new"})
    envs = [json.loads(x) for x in _lines(cp_path)]
    assert [e.get("type") for e in envs] == ["mrm-gate.checkpoint/v1"] * 2 + [None]
    assert envs[-1]["payloadType"] == CHECKPOINT_PAYLOAD_TYPE
    res = verify(log_path, checkpoints=FileCheckpointStore(cp_path),
                 keys=[attestation.load_key(verify_spec)])
    assert res.ok and res.anchored_seq == 2
    assert any("checkpoint line 1 and 1 more: deprecated" in w for w in res.warnings)


OLD_TAMPERING = {
    "payload edited": (lambda e: {**e, "payload": _b64(_canon(
        {**json.loads(base64.b64decode(e["payload"])), "seq": 1}))}, "signature is invalid"),
    "signature of another checkpoint": (lambda e: {**e, "sig": _b64(b"\0" * 64)},
                                        "signature is invalid"),
    "empty signature": (lambda e: {**e, "sig": ""}, "signature is invalid"),
    "unknown key id": (lambda e: {**e, "kid": "hmac:feedface"}, "not trusted"),
    "alg swapped": (lambda e: {**e, "alg": "Ed25519" if e["alg"] == "HS256" else "HS256"},
                    "not trusted"),
    "alg none": (lambda e: {**e, "alg": "none", "sig": ""}, "not trusted"),
    "no sig": (lambda e: {k: v for k, v in e.items() if k != "sig"}, "malformed"),
}


@pytest.mark.parametrize("tamper,expected", OLD_TAMPERING.values(), ids=OLD_TAMPERING.keys())
def test_altered_old_checkpoints_are_still_problems(tmp_path: Path, keys, tamper,
                                                    expected) -> None:
    sign_spec, verify_spec = keys
    log_path, cp_path = _legacy_file(tmp_path, attestation.load_key(sign_spec))
    envs = [json.loads(x) for x in _lines(cp_path)]
    _write(cp_path, [json.dumps(e) for e in [*envs[:-1], tamper(envs[-1])]])
    res = verify(log_path, checkpoints=FileCheckpointStore(cp_path),
                 keys=[attestation.load_key(verify_spec)])
    assert not res.ok
    assert any(expected in p for p in res.problems), res.problems


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
