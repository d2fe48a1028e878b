"""`mrm-gate attest`: verify an attestation at deploy time, digest a model directory.

Exit codes: 0 the attestation is valid and meets every `--expect-*`, 1 it is not (the reason is
printed), 2 usage error (an unreadable file or key, a bad option). Everything printed from an
attestation goes through `inert`: its content is data, never terminal control.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from . import EXIT_APPROVE, EXIT_BLOCK

KEY_HELP = ("Key to verify with: an Ed25519 PEM public (or private) key file, or an HMAC secret "
            "(env:VAR or a file). Repeat for rotated keys.")


@click.group()
def attest() -> None:
    """In-toto model-risk attestations (DSSE): verify one, digest a model directory."""


def _read(path: str) -> str:
    from ..errors import UserError

    try:
        data = Path(path).read_bytes()
    except IsADirectoryError:
        raise UserError(f"attestation {path} is a directory; name the .attestation.json file") \
            from None
    except OSError as exc:
        raise UserError(f"cannot read attestation {path}: {exc.strerror}") from None
    if len(data) > 1 << 20:
        raise UserError(f"attestation {path} is larger than 1 MiB; it is not an attestation")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"attestation {path} is not UTF-8 text") from None


@attest.command("verify")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--key", "key_specs", multiple=True, required=True, metavar="KEY", help=KEY_HELP)
@click.option("--model-dir", type=click.Path(file_okay=False), help="The model directory to "
              "deploy: its digest (docs/attestations.md) must be a subject of the attestation.")
@click.option("--expect-verdict", multiple=True, metavar="VERDICT",
              type=click.Choice(["APPROVE", "CONDITIONAL", "BLOCK"], case_sensitive=False),
              help="Accepted verdict(s); repeat to accept several. Default: APPROVE.")
@click.option("--expect-target", metavar="TARGET", help="The alias/target it was evaluated for.")
@click.option("--expect-policy-sha", metavar="SHA256", help="The policy's sha256.")
@click.option("--expect-model", metavar="NAME", help="The registered model name.")
@click.option("--expect-version", metavar="VERSION", help="The model version.")
@click.option("--max-age", metavar="DURATION", help="Refuse older records (e.g. 24h, 7d).")
@click.option("--json", "as_json", is_flag=True, help="Print the verified record as JSON.")
@click.option("--predicate", "as_predicate", is_flag=True, help="Print only the verified "
              "predicate as JSON (e.g. for `cosign attest --predicate` on the serving image).")
def verify_cmd(file, key_specs, model_dir, expect_verdict, expect_target, expect_policy_sha,
               expect_model, expect_version, max_age, as_json, as_predicate) -> int:
    """Verify the attestation FILE (signature, statement, expectations); exit 0 valid, 1 not,
    2 usage error."""
    from .. import attestation as att
    from ..audit.query import inert

    keys = [att.load_key(s) for s in key_specs]
    text = _read(file)
    duration = att.parse_duration(max_age) if max_age else None
    model_sha = None
    if model_dir is not None:
        from ..attestation.digest import model_dir_sha256

        model_sha = model_dir_sha256(model_dir)
    try:
        rec = att.open_envelope(text, keys)
        att.check_record(rec, name=expect_model, version=expect_version,
                         policy_sha256=expect_policy_sha.lower() if expect_policy_sha else None,
                         **({"target": expect_target} if expect_target is not None else {}))
        if expect_target is not None and rec.get("target") is None:
            raise att.AttestationError(f"attestation names no target, not {expect_target!r}")
        att.check_fresh(rec, max_age=duration)
        att.check_verdict(rec, {v.upper() for v in expect_verdict} or {"APPROVE"})
        if model_sha is not None:
            _check_model(rec, model_sha, model_dir)
    except att.AttestationError as exc:
        click.echo(click.style("INVALID: ", fg="red", bold=True) + inert(exc), err=True)
        return EXIT_BLOCK
    for warning in rec.get("warnings") or []:
        click.echo(click.style("warning: ", fg="yellow", bold=True) + inert(warning), err=True)
    if as_predicate:
        predicate = {k: v for k, v in rec.items() if k not in ("type", "subject", "warnings")}
        click.echo(json.dumps(predicate, indent=2, sort_keys=True))
    elif as_json:
        click.echo(json.dumps(rec, indent=2, sort_keys=True))
    else:
        model = rec.get("model") or {}
        click.echo(f"ok: {inert(file)}: {inert(rec.get('verdict'))} for "
                   f"{inert(model.get('name'))} version {inert(model.get('version'))}, target "
                   f"{inert(rec.get('target'))}, policy sha256 "
                   f"{inert((rec.get('policy') or {}).get('sha256'))}, decision "
                   f"{inert(rec.get('decision_id'))}"
                   + (f"; model digest {model_sha} matches" if model_sha else ""))
    return EXIT_APPROVE


def _check_model(rec: dict, model_sha: str, model_dir: str) -> None:
    from .. import attestation as att

    attested = (rec.get("model") or {}).get("sha256")
    if not attested:
        raise att.AttestationError("the attestation carries no model digest (it was signed "
                                   f"without the model directory); cannot check {model_dir}")
    subjects = [s.get("digest", {}).get("sha256") for s in rec.get("subject") or []]
    if attested != model_sha or model_sha not in subjects:
        raise att.AttestationError(f"the model directory {model_dir} has digest "
                                   f"{model_sha[:12]}…, the attestation is for "
                                   f"{str(attested)[:12]}…; this is not the attested model")


@attest.command("digest")
@click.argument("model_dir", type=click.Path(file_okay=False))
@click.option("--manifest", is_flag=True, help="Print the manifest instead: exactly the bytes "
              "whose sha256 is the digest (`sha256sum` of this output equals it).")
def digest_cmd(model_dir, manifest) -> int:
    """Print the sha256 content digest of MODEL_DIR (the attestation's model subject)."""
    from ..attestation.digest import manifest_bytes, model_dir_sha256

    if manifest:
        click.get_binary_stream("stdout").write(manifest_bytes(model_dir))
        return EXIT_APPROVE
    click.echo(model_dir_sha256(model_dir))
    return EXIT_APPROVE
