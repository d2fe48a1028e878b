"""Attestations as in-toto Statements in DSSE envelopes (issue 17).

* the format (Statement v1, our predicate type, subjects by sha256, payloadType, key ids);
* every way to forge or bend an envelope (`alg: none`-style tricks) is refused, by class;
* interoperability both ways with independent implementations: sigstore-python's DSSE model and
  PAE, the in-toto/attestation Python bindings, `rfc8785` and pyca/cryptography - nothing of
  mrm-gate's on the other side;
* the model directory digest equals the documented coreutils recipe;
* `mrm-gate attest verify` exit codes, the old envelope read with a deprecation warning, and the
  published predicate schema.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from core_helpers import GOOD
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mrm_gate import attestation as att
from mrm_gate.attestation import dsse, legacy
from mrm_gate.attestation.digest import ModelDigestError, model_dir_sha256
from mrm_gate.cli import run

NOW = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.timezone.utc)
SECRET = "s" * 48
EVIDENCE = "e" * 64
MODEL = "a" * 64
POLICY = "b" * 64
REPO = Path(__file__).resolve().parents[2]


def _record(**over):
    rec = {"type": att.ATTESTATION_TYPE, "decision_id": "d-1",
           "model": {"name": "credit", "version": "3", "sha256": MODEL}, "target": "champion",
           "verdict": "APPROVE", "tier": "high",
           "policy": {"name": "p", "version": "1", "sha256": POLICY},
           "evidence_sha256": EVIDENCE, "decided_at": (NOW - dt.timedelta(hours=1)).isoformat(),
           "failing_controls": [], "waived_controls": [], "actor": "ci",
           "tool_version": "0.1.0"}
    rec.update(over)
    return rec


def _ed25519(tmp_path: Path, name: str = "key"):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    priv = Ed25519PrivateKey.generate()
    (tmp_path / f"{name}.pem").write_bytes(priv.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (tmp_path / f"{name}.pub.pem").write_bytes(priv.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return priv, tmp_path / f"{name}.pem", tmp_path / f"{name}.pub.pem"


@pytest.fixture
def hmac_key(monkeypatch):
    monkeypatch.setenv("DSSE_TEST_KEY", SECRET)
    return att.load_key("env:DSSE_TEST_KEY")


@pytest.fixture
def ed_keys(tmp_path):
    priv, key_file, pub_file = _ed25519(tmp_path)
    return priv, att.load_key(str(key_file)), att.load_key(str(pub_file)), pub_file


@pytest.fixture(params=["hmac", "ed25519"])
def keypair(request, hmac_key, ed_keys):
    if request.param == "hmac":
        return hmac_key, [hmac_key]
    _priv, signer, verifier, _pub = ed_keys
    return signer, [verifier]


def _verify(envelope, keys, **over):
    kw = dict(name="credit", version="3", policy_sha256=POLICY, evidence_sha256=EVIDENCE,
              target="champion", max_age=dt.timedelta(hours=24), allow_conditional=False,
              now=NOW)
    kw.update(over)
    return att.verify(envelope, keys, **kw)


def _payload(envelope) -> dict:
    return json.loads(base64.b64decode(envelope["payload"]))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- the format -----------------------------------------------------------------------------

def test_envelope_is_a_dsse_in_toto_statement(keypair):
    signer, keys = keypair
    env = att.sign(_record(), signer)
    assert set(env) == {"payload", "payloadType", "signatures"}
    assert env["payloadType"] == "application/vnd.in-toto+json"
    assert [s["keyid"] for s in env["signatures"]] == [signer.kid]
    stmt = _payload(env)
    assert stmt["_type"] == "https://in-toto.io/Statement/v1"
    assert stmt["predicateType"] == "https://mrm-gate.dev/attestation/model-risk-decision/v1"
    assert stmt["subject"] == [
        {"name": "models:/credit/3", "digest": {"sha256": MODEL}},
        {"name": "models:/credit/3#evidence", "digest": {"sha256": EVIDENCE}}]
    assert stmt["predicate"]["verdict"] == "APPROVE" and "type" not in stmt["predicate"]
    rec = _verify(att.dumps(env), keys)
    assert rec["decision_id"] == "d-1" and rec["subject"] == stmt["subject"]
    assert "warnings" not in rec


def test_pae_is_securesystemslib_and_the_dsse_spec():
    """The bytes signed are DSSE v1's PAE (spec example), computed by securesystemslib."""
    assert dsse._pae("http://example.com/HelloWorld", b"hello world") == \
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"


def test_real_evaluation_signs_model_and_evidence(tmp_path, make_evidence, policy_file,
                                                  ed_keys):
    _priv, _signer, verifier, _pub = ed_keys
    folder = make_evidence({**GOOD, "model_artifact": "model"},
                           {"model/MLmodel": "flavors: {}\n", "model/weights.bin": "0101"})
    out = tmp_path / "out"
    code = run(["evaluate", "--evidence", str(folder), "--policy", str(policy_file),
                "--target", "champion", "--output", str(out), "--format", "json",
                "--attest", str(tmp_path / "key.pem"), "--quiet"])
    assert code == 0
    (path,) = out.glob("*.attestation.json")
    rec = att.open_envelope(path.read_text(), [verifier])
    digest = model_dir_sha256(folder / "model")
    assert rec["model"]["sha256"] == digest
    assert {"name": "models:/credit-pd/3", "digest": {"sha256": digest}} in rec["subject"]
    report = json.loads(next(p for p in out.glob("*.json") if ".attestation" not in p.name)
                        .read_text())
    assert rec["evidence_sha256"] == report["evidence_sha256"]
    assert rec["decision_id"] == report["id"] and rec["verdict"] == "APPROVE"


# --- forgeries, by class --------------------------------------------------------------------

def _resign(key, payload: bytes, payload_type: str = att.IN_TOTO_PAYLOAD_TYPE) -> dict:
    """A correctly signed envelope over arbitrary payload bytes (the signer is honest, the
    content is not: what the payload checks must catch)."""
    return {"payload": _b64(payload), "payloadType": payload_type,
            "signatures": [{"keyid": key.kid, "sig": _b64(_raw_sign(key, payload_type,
                                                                     payload))}]}


def _raw_sign(key, payload_type: str, payload: bytes) -> bytes:
    pae = b"DSSEv1 %d %b %d %b" % (len(payload_type), payload_type.encode(), len(payload),
                                   payload)
    if key.alg == "HS256":
        return hmac.new(key.secret, pae, hashlib.sha256).digest()
    return key.private.sign(pae)


def _stmt(**over) -> dict:
    stmt = json.loads(att.statement_payload(_record()))
    stmt.update(over)
    return stmt


def _canon(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


ENVELOPE_TRICKS = {
    "no signatures": (lambda e, k: {**e, "signatures": []}, "no signatures"),
    "signatures not a list": (lambda e, k: {**e, "signatures": None}, "no signatures"),
    "signature without sig": (lambda e, k: {**e, "signatures": [{"keyid": k.kid}]},
                              "malformed"),
    "empty sig": (lambda e, k: {**e, "signatures": [{"keyid": k.kid, "sig": ""}]},
                  "signature is invalid"),
    "unknown keyid": (lambda e, k: {**e, "signatures": [{**e["signatures"][0],
                                                         "keyid": "ed25519:0000"}]},
                      "does not trust"),
    "no keyid, bad sig": (lambda e, k: {**e, "signatures": [{"sig": _b64(b"\0" * 64)}]},
                          "signature is invalid"),
    "payloadType swapped": (lambda e, k: {**e, "payloadType": "application/json"},
                            "payloadType"),
    "checkpoint payloadType": (
        lambda e, k: {**e, "payloadType": "application/vnd.mrm-gate.checkpoint+json"},
        "payloadType"),
    "extra field alg none": (lambda e, k: {**e, "alg": "none"}, "malformed"),
    "no payload": (lambda e, k: {x: v for x, v in e.items() if x != "payload"}, "malformed"),
    "payload not base64": (lambda e, k: {**e, "payload": "%%%"}, "malformed"),
    "not an object": (lambda e, k: [e], "malformed"),
    "not JSON": (lambda e, k: "{not json", "not valid JSON"),
    "duplicate envelope key": (
        lambda e, k: att.dumps(e)[:-1] + ',"payloadType":"application/json"}',
        "not valid JSON"),
    "payload of another statement, same signature": (
        lambda e, k: {**e, "payload": _b64(att.statement_payload(_record(verdict="BLOCK")))},
        "signature is invalid"),
    "untrusted signature only, then garbage": (
        lambda e, k: {**e, "signatures": [{"keyid": "x", "sig": _b64(b"1")},
                                          {"keyid": k.kid, "sig": _b64(b"2" * 64)}]},
        "signature is invalid"),
    # signed by the trusted key, but the content is not an honest canonical statement
    "non-canonical payload": (
        lambda e, k: _resign(k, json.dumps(_stmt(), indent=1).encode()), "canonical"),
    "duplicate key in payload": (
        lambda e, k: _resign(k, _canon(_stmt())[:-1] + b',"predicateType":"x"}'),
        "duplicate key"),
    "NaN in payload": (
        lambda e, k: _resign(k, _canon(_stmt())[:-1] + b',"z":NaN}'), "canonical"),
    "float in payload": (
        lambda e, k: _resign(k, _canon(_stmt())[:-1] + b',"z":1.5}'), "canonical"),
    "not UTF-8": (lambda e, k: _resign(k, b'{"_type":"\xff"}'), "canonical"),
    "wrong statement type": (
        lambda e, k: _resign(k, _canon(_stmt(_type="https://in-toto.io/Statement/v0.1"))),
        "statement is invalid"),
    "other predicate type": (
        lambda e, k: _resign(k, _canon(_stmt(predicateType="https://slsa.dev/provenance/v1"))),
        "not a model-risk decision"),
    "no subject": (lambda e, k: _resign(k, _canon(_stmt(subject=[]))), "names no subject"),
    "subject digest not hex": (
        lambda e, k: _resign(k, _canon(_stmt(subject=[{"name": "m", "digest": {
            "sha256": "Z" * 64}}]))), "hex"),
    "evidence not among subjects": (
        lambda e, k: _resign(k, _canon(_stmt(subject=[{"name": "m", "digest": {
            "sha256": MODEL}}]))), "evidence_sha256"),
    "unknown statement field": (
        lambda e, k: _resign(k, _canon(_stmt(extra=1))), "unexpected field"),
    "predicate verdict missing": (
        lambda e, k: _resign(k, _canon(_stmt(predicate={
            **_stmt()["predicate"], "verdict": None}))), "verdict"),
    "legacy envelope with forged kid": (
        lambda e, k: {**legacy.sign(_record(), k), "kid": "hmac:0"}, "does not trust"),
}


@pytest.mark.parametrize("trick", sorted(ENVELOPE_TRICKS))
def test_forged_or_bent_envelopes_are_refused(keypair, trick):
    signer, keys = keypair
    mutate, reason = ENVELOPE_TRICKS[trick]
    with pytest.raises(att.AttestationError, match=reason):
        _verify(mutate(att.sign(_record(), signer), signer), keys)


def test_hmac_signature_presented_as_ed25519_and_back(hmac_key, ed_keys):
    """Each algorithm checks its own signatures only, whatever the keyid claims."""
    _priv, ed_signer, ed_verifier, _pub = ed_keys
    payload = att.statement_payload(_record())
    keys = [hmac_key, ed_verifier]
    hmac_sig = _raw_sign(hmac_key, att.IN_TOTO_PAYLOAD_TYPE, payload)
    ed_sig = _raw_sign(ed_signer, att.IN_TOTO_PAYLOAD_TYPE, payload)
    for keyid, sig in [(ed_verifier.kid, hmac_sig), (hmac_key.kid, ed_sig)]:
        env = {"payload": _b64(payload), "payloadType": att.IN_TOTO_PAYLOAD_TYPE,
               "signatures": [{"keyid": keyid, "sig": _b64(sig)}]}
        with pytest.raises(att.AttestationError, match="signature is invalid"):
            _verify(env, keys)
    # An HMAC secret equal to the public key's bytes must not help either (key confusion).
    from cryptography.hazmat.primitives import serialization

    pub_pem = ed_verifier.public.public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
    confused = att.Key(alg="HS256", kid=ed_verifier.kid, secret=pub_pem)
    with pytest.raises(att.AttestationError, match="signature is invalid"):
        _verify(att.sign(_record(), confused), [ed_verifier])


def test_a_second_valid_signature_is_enough_and_order_does_not_matter(hmac_key, ed_keys):
    _priv, ed_signer, ed_verifier, _pub = ed_keys
    env = att.sign(_record(), ed_signer)
    env["signatures"].insert(0, {"keyid": "someone-else", "sig": _b64(b"x" * 64)})
    assert _verify(env, [hmac_key, ed_verifier])["decision_id"] == "d-1"


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_change_to_payload_or_signature_is_refused(hmac_key, data):
    env = att.sign(_record(), hmac_key)
    field = data.draw(st.sampled_from(["payload", "sig"]))
    raw = bytearray(base64.b64decode(env["payload"] if field == "payload"
                                     else env["signatures"][0]["sig"]))
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] ^= data.draw(st.integers(1, 255))
    if field == "payload":
        env = {**env, "payload": _b64(bytes(raw))}
    else:
        env = {**env, "signatures": [{**env["signatures"][0], "sig": _b64(bytes(raw))}]}
    with pytest.raises(att.AttestationError):
        _verify(env, [hmac_key])


# --- refusal messages unchanged on the new format -------------------------------------------

@pytest.mark.parametrize("record,verify_kw,reason", [
    (_record(), {"version": "4"}, "attestation is for version 3, not version 4"),
    (_record(), {"target": "production"}, "evaluated for target 'champion', not 'production'"),
    (_record(), {"policy_sha256": "c" * 64}, "policy sha256 bbbbbbbbbbbb…"),
    (_record(), {"evidence_sha256": "f" * 64}, "the evidence changed since the attestation"),
    (_record(), {"max_age": dt.timedelta(minutes=30)}, "attestation is stale: made 1.0 h ago"),
    (_record(verdict="BLOCK", failing_controls=["MRM-PERF-001"]), {},
     r"attested verdict is BLOCK \(failing controls: MRM-PERF-001\)"),
])
def test_refusal_messages_are_the_old_ones(keypair, record, verify_kw, reason):
    signer, keys = keypair
    with pytest.raises(att.AttestationError, match=reason):
        _verify(att.sign(record, signer), keys, **verify_kw)


def test_wrong_key_is_not_trusted(hmac_key, monkeypatch):
    monkeypatch.setenv("OTHER_KEY", "o" * 40)
    env = att.sign(_record(), att.load_key("env:OTHER_KEY"))
    with pytest.raises(att.AttestationError, match="which this server does not trust"):
        _verify(env, [hmac_key])


# --- the old envelope, one more release -----------------------------------------------------

def test_legacy_envelope_still_verifies_with_a_deprecation_warning(keypair, caplog):
    signer, keys = keypair
    old = legacy.sign({**_record(), "type": "mrm-gate.attestation/v1"}, signer)
    assert old["type"] == "mrm-gate.attestation/v1"
    with caplog.at_level("WARNING", logger="mrm_gate.attestation"):
        rec = _verify(att.dumps(old), keys)
    assert rec["warnings"] == [att.DEPRECATION]
    assert "deprecated attestation format" in caplog.text
    with pytest.raises(att.AttestationError, match="signature is invalid"):
        _verify({**old, "payload": _b64(_canon({**_record(), "type": legacy.LEGACY_ATTESTATION_TYPE,
                                                "verdict": "APPROVE", "target": None}))}, keys)


def test_a_checkpoint_signature_never_verifies_as_an_attestation(hmac_key):
    from mrm_gate.audit.checkpoint import Checkpoint

    cp = Checkpoint.now("a" * 64, 3, "b" * 64).sign(hmac_key)
    with pytest.raises(att.AttestationError):
        att.open_envelope(cp, [hmac_key])


# --- interoperability with independent implementations ---------------------------------------

def _independent_verify(envelope_json: str, public_key) -> dict:
    """Verify a DSSE envelope with sigstore-python's model and PAE, pyca/cryptography and the
    in-toto/attestation bindings: no mrm-gate code. Returns the statement; raises otherwise."""
    from google.protobuf import json_format
    from in_toto_attestation.v1 import statement_pb2
    from in_toto_attestation.v1.statement import Statement as ProtoStatement
    from sigstore.dsse import Statement as SigstoreStatement
    from sigstore.dsse import _pae
    from sigstore_models.intoto import Envelope

    env = Envelope.from_json(envelope_json)
    assert env.payload_type == "application/vnd.in-toto+json"
    assert len(env.signatures) == 1
    public_key.verify(env.signatures[0].sig, _pae(env.payload_type, env.payload))  # raises
    SigstoreStatement(env.payload)  # validates the Statement v1 layout
    proto = json_format.Parse(env.payload, statement_pb2.Statement())
    ProtoStatement.copy_from_pb(proto).validate()
    return json.loads(env.payload)


def _independent_sign(statement: dict, private_key, keyid: str) -> str:
    """A DSSE envelope made without mrm-gate: RFC 8785 payload (rfc8785), sigstore's PAE and
    envelope model, pyca/cryptography's Ed25519."""
    import rfc8785
    from sigstore.dsse import _pae
    from sigstore_models.intoto import Envelope, Signature

    payload = rfc8785.dumps(statement)
    sig = private_key.sign(_pae("application/vnd.in-toto+json", payload))
    return Envelope(payload=base64.b64encode(payload),  # the model takes base64 bytes
                    payload_type="application/vnd.in-toto+json",
                    signatures=[Signature(sig=base64.b64encode(sig), keyid=keyid)]).to_json()


def _subject_tamper(stmt):
    stmt["subject"][0]["digest"]["sha256"] = "0" * 64


def _predicate_tamper(stmt):
    stmt["predicate"]["verdict"] = "APPROVE"
    stmt["predicate"]["policy"]["sha256"] = "c" * 64


def _retext(envelope_json: str, change) -> str:
    env = json.loads(envelope_json)
    stmt = json.loads(base64.b64decode(env["payload"]))
    change(stmt)
    env["payload"] = _b64(json.dumps(stmt, sort_keys=True, separators=(",", ":")).encode())
    return json.dumps(env)


def _resig(envelope_json: str) -> str:
    env = json.loads(envelope_json)
    sig = bytearray(base64.b64decode(env["signatures"][0]["sig"]))
    sig[0] ^= 1
    env["signatures"][0]["sig"] = _b64(bytes(sig))
    return json.dumps(env)


TAMPERING = {"subject digest": lambda e: _retext(e, _subject_tamper),
             "predicate": lambda e: _retext(e, _predicate_tamper),
             "signature": _resig}


def test_mrm_gate_envelope_verifies_with_independent_library(ed_keys):
    priv, signer, _verifier, _pub = ed_keys
    env = att.dumps(att.sign(_record(), signer))
    stmt = _independent_verify(env, priv.public_key())
    assert stmt["predicateType"] == att.PREDICATE_TYPE
    assert stmt["subject"][0]["digest"]["sha256"] == MODEL
    assert stmt["predicate"]["policy"]["sha256"] == POLICY


@pytest.mark.parametrize("what", sorted(TAMPERING))
def test_tampered_mrm_gate_envelope_fails_independent_verification(ed_keys, what):
    from cryptography.exceptions import InvalidSignature

    priv, signer, _verifier, _pub = ed_keys
    env = TAMPERING[what](att.dumps(att.sign(_record(), signer)))
    with pytest.raises(InvalidSignature):
        _independent_verify(env, priv.public_key())


def test_independent_envelope_with_our_predicate_verifies_in_mrm_gate(ed_keys):
    priv, _signer, verifier, _pub = ed_keys
    stmt = json.loads(att.statement_payload(_record()))  # our predicate, as a plain dict
    env = _independent_sign(stmt, priv, verifier.kid)
    rec = _verify(env, [verifier])
    assert rec["decision_id"] == "d-1" and rec["subject"] == stmt["subject"]
    # without a keyid (cosign writes none), the trusted keys are tried
    no_id = json.loads(env)
    no_id["signatures"][0].pop("keyid")
    assert _verify(json.dumps(no_id), [verifier])["verdict"] == "APPROVE"


@pytest.mark.parametrize("what", sorted(TAMPERING))
def test_tampered_independent_envelope_fails_in_mrm_gate(ed_keys, what):
    priv, _signer, verifier, _pub = ed_keys
    stmt = json.loads(att.statement_payload(_record()))
    env = TAMPERING[what](_independent_sign(stmt, priv, verifier.kid))
    with pytest.raises(att.AttestationError, match="signature is invalid"):
        _verify(env, [verifier])


def test_independent_non_canonical_payload_is_refused_by_name(ed_keys):
    """sigstore's own StatementBuilder serialises with pydantic (not RFC 8785): mrm-gate refuses
    such a payload rather than guess how another parser reads it (docs/attestations.md)."""
    from sigstore.dsse import StatementBuilder, Subject, _pae
    from sigstore_models.intoto import Envelope, Signature

    priv, _signer, verifier, _pub = ed_keys
    ours = json.loads(att.statement_payload(_record()))
    stmt = StatementBuilder().subjects([Subject(name=s["name"], digest=s["digest"])
                                        for s in ours["subject"]]) \
        .predicate_type(att.PREDICATE_TYPE).predicate(ours["predicate"]).build()
    payload = stmt._contents
    sig = priv.sign(_pae(att.IN_TOTO_PAYLOAD_TYPE, payload))
    env = Envelope(payload=base64.b64encode(payload), payload_type=att.IN_TOTO_PAYLOAD_TYPE,
                   signatures=[Signature(sig=base64.b64encode(sig),
                                         keyid=verifier.kid)]).to_json()
    _independent_verify(env, priv.public_key())
    with pytest.raises(att.AttestationError, match="not canonical JSON"):
        _verify(env, [verifier])


# --- the model directory digest -------------------------------------------------------------

def _model_dir(root: Path) -> Path:
    d = root / "model"
    (d / "sub dir").mkdir(parents=True)
    (d / "MLmodel").write_text("flavors: {}\n")
    (d / "sub dir" / "weights é.bin").write_bytes(os.urandom(300))
    (d / "requirements.txt").write_text("scikit-learn\n")
    (d / "empty").mkdir()
    return d


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="needs coreutils")
def test_model_digest_is_the_documented_coreutils_recipe(tmp_path):
    d = _model_dir(tmp_path)
    shell = subprocess.run(
        "find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum "
        "| sed 's|  \\./|  |' | sha256sum", shell=True, cwd=d, check=True,
        capture_output=True, text=True).stdout.split()[0]
    assert model_dir_sha256(d) == shell


@pytest.mark.parametrize("change", ["edit", "rename", "add", "remove"])
def test_model_digest_changes_with_any_file(tmp_path, change):
    d = _model_dir(tmp_path)
    before = model_dir_sha256(d)
    if change == "edit":
        (d / "MLmodel").write_text("flavors: {x: 1}\n")
    elif change == "rename":
        (d / "requirements.txt").rename(d / "requirements2.txt")
    elif change == "add":
        (d / "empty" / "x").write_text("")
    else:
        (d / "requirements.txt").unlink()
    assert model_dir_sha256(d) != before


@pytest.mark.parametrize("bad", ["symlink out", "symlinked dir", "newline name", "missing"])
def test_model_digest_refuses_what_it_cannot_cover(tmp_path, bad):
    d = _model_dir(tmp_path)
    (tmp_path / "secret").write_text("x")
    if bad == "symlink out":
        (d / "link").symlink_to(tmp_path / "secret")
    elif bad == "symlinked dir":
        (d / "linkdir").symlink_to(tmp_path)
    elif bad == "newline name":
        (d / "a\nb").write_text("x")
    else:
        d = tmp_path / "nope"
    with pytest.raises(ModelDigestError):
        model_dir_sha256(d)


# --- mrm-gate attest verify -----------------------------------------------------------------

@pytest.fixture
def signed_file(tmp_path, ed_keys):
    _priv, signer, _verifier, pub = ed_keys
    model = _model_dir(tmp_path)
    rec = _record(decided_at=dt.datetime.now(dt.timezone.utc).isoformat(),
                  model={"name": "credit", "version": "3", "sha256": model_dir_sha256(model)})
    path = tmp_path / "a.attestation.json"
    path.write_text(att.dumps(att.sign(rec, signer)))
    return path, pub, model


CLI_CASES = {
    "valid": ([], 0, "ok: "),
    "expectations met": (["--expect-verdict", "approve", "--expect-target", "Champion",
                          "--expect-policy-sha", POLICY, "--expect-model", "credit",
                          "--expect-version", "3", "--max-age", "1h", "--model-dir", "{model}"],
                         0, "matches"),
    "other verdict expected": (["--expect-verdict", "BLOCK"], 1, "attested verdict is APPROVE"),
    "other target": (["--expect-target", "production"], 1, "target 'champion'"),
    "other policy": (["--expect-policy-sha", "c" * 64], 1, "policy sha256"),
    "other version": (["--expect-version", "4"], 1, "not version 4"),
    "other model dir": (["--model-dir", "{other}"], 1, "not the attested model"),
    "wrong key": (["--key", "{other_key}"], 1, "does not trust"),
    "missing file": (["--file", "{tmp}/nope.json"], 2, "cannot read attestation"),
    "bad key": (["--key", "{tmp}/nokey.pem"], 2, "cannot read key file"),
    "bad duration": (["--max-age", "soon"], 2, "invalid duration"),
    "bad verdict": (["--expect-verdict", "MAYBE"], 2, "MAYBE"),
}


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_attest_verify_exit_codes(tmp_path, signed_file, capsys, case):
    path, pub, model = signed_file
    args, code, text = CLI_CASES[case]
    other = tmp_path / "other"
    other.mkdir()
    (other / "MLmodel").write_text("x")
    _p, _k, other_pub = _ed25519(tmp_path, "other")
    subst = {"model": str(model), "other": str(other), "other_key": str(other_pub),
             "tmp": str(tmp_path)}
    args = [a.format(**subst) for a in args]
    file_arg = str(path)
    if args[:1] == ["--file"]:
        file_arg, args = args[1], args[2:]
    key_args = [] if "--key" in args else ["--key", str(pub)]
    got = run(["attest", "verify", file_arg, *key_args, *args])
    out = capsys.readouterr()
    assert got == code, out
    assert text in out.out + out.err


def test_attest_verify_prints_the_deprecation_of_old_envelopes(tmp_path, hmac_key, capsys):
    rec = _record(decided_at=dt.datetime.now(dt.timezone.utc).isoformat())
    path = tmp_path / "old.json"
    path.write_text(att.dumps(legacy.sign(rec, hmac_key)))
    assert run(["attest", "verify", str(path), "--key", "env:DSSE_TEST_KEY", "--json"]) == 0
    out = capsys.readouterr()
    assert "deprecated attestation format" in out.err
    assert json.loads(out.out)["warnings"] == [att.DEPRECATION]


def test_attest_verify_escapes_hostile_text(tmp_path, hmac_key, capsys):
    rec = _record(decided_at=dt.datetime.now(dt.timezone.utc).isoformat(),
                  model={"name": "credit\x1b[2J\nFAKE ok", "version": "3"})
    path = tmp_path / "a.json"
    path.write_text(att.dumps(att.sign(rec, hmac_key)))
    assert run(["attest", "verify", str(path), "--key", "env:DSSE_TEST_KEY"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and out.count("\n") == 1


def test_attest_digest_prints_the_digest_and_the_manifest_it_hashes(tmp_path, capsysbinary):
    d = _model_dir(tmp_path)
    assert run(["attest", "digest", str(d)]) == 0
    assert capsysbinary.readouterr().out.decode().strip() == model_dir_sha256(d)
    assert run(["attest", "digest", "--manifest", str(d)]) == 0
    manifest = capsysbinary.readouterr().out
    assert hashlib.sha256(manifest).hexdigest() == model_dir_sha256(d)
    assert manifest.decode().splitlines()[0].endswith("  MLmodel")


def test_attest_verify_prints_the_predicate_as_signed(signed_file, capsys):
    path, pub, _model = signed_file
    assert run(["attest", "verify", str(path), "--key", str(pub), "--predicate"]) == 0
    predicate = json.loads(capsys.readouterr().out)
    assert predicate == _payload(json.loads(path.read_text()))["predicate"]


# --- the published predicate schema ---------------------------------------------------------

def test_predicate_schema_is_published_and_validates_real_predicates(tmp_path, make_evidence,
                                                                     policy_file, hmac_key):
    from importlib.resources import files

    import jsonschema

    published = json.loads((REPO / "docs" / "model-risk-decision.predicate.schema.json")
                           .read_text())
    shipped = json.loads(files("mrm_gate.attestation").joinpath(
        "model-risk-decision.predicate.schema.json").read_text())
    assert published == shipped and published["$id"].startswith("https://mrm-gate.dev/")
    jsonschema.Draft202012Validator.check_schema(published)
    validator = jsonschema.Draft202012Validator(published)
    validator.validate(_stmt()["predicate"])
    folder = make_evidence(GOOD)
    out = tmp_path / "out"
    assert run(["evaluate", "--evidence", str(folder), "--policy", str(policy_file),
                "--output", str(out), "--format", "json", "--attest", "env:DSSE_TEST_KEY",
                "--quiet"]) in (0, 1)
    (path,) = out.glob("*.attestation.json")
    validator.validate(_payload(json.loads(path.read_text()))["predicate"])
    for bad in [{"verdict": "MAYBE"}, {"evidence_sha256": "x"}, {"policy": {}}]:
        with pytest.raises(jsonschema.ValidationError):
            validator.validate({**_stmt()["predicate"], **bad})
