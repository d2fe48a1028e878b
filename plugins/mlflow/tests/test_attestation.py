"""Signed decision records: HMAC and Ed25519, and every reason a record is refused."""

from __future__ import annotations

import base64
import datetime as dt
import json
import shutil
import subprocess

import pytest

from mrm_gate import attestation as att

NOW = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.timezone.utc)
SECRET = "k" * 40


def _record(**over):
    rec = {"type": att.ATTESTATION_TYPE, "decision_id": "d-1",
           "model": {"name": "credit", "version": "3"}, "target": "champion",
           "verdict": "APPROVE", "tier": "high",
           "policy": {"name": "p", "version": "1", "sha256": "p" * 64},
           "evidence_sha256": "e" * 64, "decided_at": (NOW - dt.timedelta(hours=1)).isoformat(),
           "failing_controls": []}
    rec.update(over)
    return rec


@pytest.fixture(params=["hmac", "ed25519"])
def keypair(request, tmp_path, monkeypatch):
    """(signing key, verification keys) for each algorithm, loaded the way users give them."""
    if request.param == "hmac":
        monkeypatch.setenv("TEST_ATT_KEY", SECRET)
        key = att.load_key("env:TEST_ATT_KEY")
        return key, [key]
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    priv = Ed25519PrivateKey.generate()
    (tmp_path / "key.pem").write_bytes(priv.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (tmp_path / "pub.pem").write_bytes(priv.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    signer = att.load_key(str(tmp_path / "key.pem"))
    verifier = att.load_key(str(tmp_path / "pub.pem"))
    assert not verifier.can_sign and signer.kid == verifier.kid
    return signer, [verifier]


def _verify(envelope, keys, **over):
    kw = dict(name="credit", version="3", policy_sha256="p" * 64, evidence_sha256="e" * 64,
              target="champion", max_age=dt.timedelta(hours=24), allow_conditional=False,
              now=NOW)
    kw.update(over)
    return att.verify(envelope, keys, **kw)


def test_valid_record_verifies(keypair):
    signer, keys = keypair
    rec = _verify(att.dumps(att.sign(_record(), signer)), keys)
    assert rec["decision_id"] == "d-1"


def _tamper(envelope):
    payload = json.loads(base64.b64decode(envelope["payload"]))  # an in-toto Statement
    payload["predicate"]["verdict"] = "APPROVE"
    payload["predicate"]["model"]["version"] = "4"
    return {**envelope, "payload": base64.b64encode(json.dumps(payload).encode()).decode()}


@pytest.mark.parametrize("record,verify_kw,reason", [
    (_record(), {"version": "4"}, "not version 4"),
    (_record(), {"name": "other"}, "is for model 'credit'"),
    (_record(), {"policy_sha256": "q" * 64}, "policy sha256"),
    (_record(), {"evidence_sha256": "f" * 64}, "evidence changed"),
    (_record(), {"target": "production"}, "target 'champion'"),
    (_record(), {"max_age": dt.timedelta(minutes=30)}, "stale"),
    (_record(decided_at=(NOW + dt.timedelta(hours=1)).isoformat()), {}, "future"),
    (_record(verdict="BLOCK", failing_controls=["MRM-PERF-001"]), {}, "MRM-PERF-001"),
    (_record(verdict="CONDITIONAL"), {}, "attested verdict is CONDITIONAL"),
])
def test_refusals_name_the_reason(keypair, record, verify_kw, reason):
    signer, keys = keypair
    with pytest.raises(att.AttestationError, match=reason):
        _verify(att.sign(record, signer), keys, **verify_kw)


def test_conditional_accepted_when_allowed(keypair):
    signer, keys = keypair
    env = att.sign(_record(verdict="CONDITIONAL"), signer)
    assert _verify(env, keys, allow_conditional=True)["verdict"] == "CONDITIONAL"


@pytest.mark.parametrize("mutate,reason", [
    (_tamper, "signature is invalid"),
    (lambda e: {**e, "signatures": [{**e["signatures"][0],
                                     "sig": base64.b64encode(b"x" * 64).decode()}]},
     "signature is invalid"),
    (lambda e: {**e, "signatures": [{**e["signatures"][0], "keyid": "hmac:unknown"}]},
     "does not trust"),
    (lambda e: {**e, "payload": "%%%"}, "malformed"),
    (lambda e: "not json", "not valid JSON"),
    (lambda e: {**e, "type": "other"}, "envelope"),
])
def test_forged_or_damaged_records_are_refused(keypair, mutate, reason):
    signer, keys = keypair
    with pytest.raises(att.AttestationError, match=reason):
        _verify(mutate(att.sign(_record(), signer)), keys)


def test_hmac_record_does_not_verify_with_another_secret(monkeypatch):
    monkeypatch.setenv("A_KEY", SECRET)
    monkeypatch.setenv("B_KEY", "z" * 40)
    env = att.sign(_record(), att.load_key("env:A_KEY"))
    with pytest.raises(att.AttestationError, match="does not trust"):
        _verify(env, [att.load_key("env:B_KEY")])


@pytest.mark.parametrize("setup,spec,message", [
    (lambda p, m: m.setenv("SHORT_KEY", "abc"), "env:SHORT_KEY", "at least 32"),
    (lambda p, m: m.delenv("MISSING_KEY", raising=False), "env:MISSING_KEY", "not set"),
    (lambda p, m: None, "{tmp}/nope.pem", "cannot read key file"),
    (lambda p, m: (p / "bad.pem").write_text("-----BEGIN PUBLIC KEY-----\nxx\n"),
     "{tmp}/bad.pem", "not a readable PEM key"),
])
def test_unusable_keys_are_user_errors(tmp_path, monkeypatch, setup, spec, message):
    from mrm_gate.errors import UserError

    setup(tmp_path, monkeypatch)
    with pytest.raises(UserError, match=message):
        att.load_key(spec.format(tmp=tmp_path))


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_openssl_keys_work_and_public_key_cannot_sign(tmp_path):
    from mrm_gate.errors import UserError

    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out",
                    str(tmp_path / "k.pem")], check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", str(tmp_path / "k.pem"), "-pubout", "-out",
                    str(tmp_path / "p.pem")], check=True, capture_output=True)
    pub = att.load_key(str(tmp_path / "p.pem"))
    with pytest.raises(UserError, match="public key"):
        att.sign(_record(), pub)
    env = att.sign(_record(), att.load_key(str(tmp_path / "k.pem")))
    assert _verify(env, [pub])["model"]["version"] == "3"


@pytest.mark.parametrize("text,seconds", [("90s", 90), ("15m", 900), ("24h", 86400),
                                          ("7d", 604800), (120, 120), ("30", 30)])
def test_durations(text, seconds):
    assert att.parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["soon", "-5m", "0"])
def test_bad_durations(text):
    from mrm_gate.errors import UserError

    with pytest.raises(UserError):
        att.parse_duration(text)
