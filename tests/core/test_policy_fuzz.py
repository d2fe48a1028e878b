"""Property tests: whatever a policy file holds, loading it either works or is a UserError.

Never RecursionError, ValueError, TypeError, KeyError, AttributeError...: those reach the CLI as
exit 3 with "internal error". Three generators: YAML-ish text (structure characters, anchors,
tags, dates, numbers), structured policies with hostile values dropped anywhere in a valid
skeleton, and tiering rules evaluated against hostile tag values (which may only block, as a
TierError, and never hang). Examples and deadlines are bounded so the file runs in seconds.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import math
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mrm_gate.errors import UserError
from mrm_gate.evidence.model import Evidence
from mrm_gate.policy import Policy, load_policy, load_waivers
from mrm_gate.tiering import TierError, resolve_tier
from mrm_gate.yamlsafe import load_yaml

FAST = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

SKELETON = {
    "apiVersion": "mrm-gate/v1",
    "kind": "Policy",
    "metadata": {"name": "fuzz"},
    "tiering": {"default": "low", "rules": [
        {"tier": "high", "all": [{"tag": "mrm.exposure", "gte": 1000}]},
        {"tier": "low", "any": [{"tag": "mrm.purpose", "matches": "^int"}]},
    ]},
    "tiers": {
        "low": {"controls": [
            {"id": "MRM-PERF-001", "check": "performance.threshold",
             "params": {"metric": "auc", "min": 0.7}, "refs": ["sr26-2:performance"]},
            {"id": "MRM-DRIFT-001", "check": "drift.features",
             "params": {"thresholds": {"psi": {"yellow": 0.1, "red": 0.25}}}},
        ]},
        "high": {"extends": "low", "controls": [
            {"id": "MRM-GAP-001", "check": "gap_risk.probability",
             "params": {"max": 0.2, "on": "upper", "scenario": {"u": 5.0}}},
        ]},
    },
}

hostile_scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([float("nan"), float("inf"), -float("inf"), 10**400, -(10**400), 1e308]),
    st.text(max_size=30),
    st.sampled_from(["", " ", "on", "yes", "2027-02-30", "1e400", "Infinity", "(a)\\1",
                     "^(a+)+$", "MRM-X-1", "sr26-2:nope", "performance.threshold", "../x.yaml",
                     "\x1b[2J", "\ud800"]),
    st.dates(), st.datetimes(),
)
hostile_values = st.recursive(
    hostile_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(st.text(max_size=8), st.integers(),
                                                      st.booleans()), inner, max_size=4)),
    max_leaves=12,
)


def _paths(node, prefix=()):
    """Every (container path, key) in the skeleton where a value can be replaced or added."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield prefix, k
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield prefix, i
            yield from _paths(v, (*prefix, i))


SITES = list(_paths(SKELETON))


def _dump(data) -> str:
    try:
        return yaml.safe_dump(data, allow_unicode=False, sort_keys=False)
    except (yaml.YAMLError, RecursionError):
        return yaml.safe_dump({"apiVersion": "mrm-gate/v1"})


def _load(tmp_path: Path, text: str) -> Policy | None:
    p = tmp_path / "fuzz.yaml"
    p.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        return load_policy(p)
    except UserError:
        return None


TOKENS = [*"{}[],:-?&*!|>'\"#%@` \n\t.eE+0123456789abnoyt~", "tiers", "controls", "params",
          "min", ".nan", ".inf", "apiVersion: mrm-gate/v1\n", "kind: Policy\n", "!!binary ",
          "!!python/object ", "!!set ", "2027-02-30", "<<: ", "&a ", "*a", "[[[[[[[[",
          "- - - - ", "on: ", "\u2028", "\x00"]
yamlish = st.lists(st.sampled_from(TOKENS), max_size=120).map("".join)


@FAST
@given(text=yamlish)
def test_yamlish_text_never_crashes_the_loader(tmp_path_factory, text) -> None:
    tmp = tmp_path_factory.mktemp("text")
    _load(tmp, text)
    with contextlib.suppress(UserError):
        load_yaml("x.yaml", "evidence", text=text)


@FAST
@given(sites=st.lists(st.tuples(st.sampled_from(SITES), hostile_values), min_size=1,
                      max_size=4))
def test_hostile_values_anywhere_in_a_policy_never_crash_it(tmp_path_factory, sites) -> None:
    data = copy.deepcopy(SKELETON)
    for (prefix, key), value in sites:
        node = data
        try:
            for part in prefix:
                node = node[part]
            node[key] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier replacement changed the shape here
    pol = _load(tmp_path_factory.mktemp("struct"), _dump(data))
    if pol is not None:  # what loads holds only finite thresholds
        for controls in pol.effective.values():
            for rc in controls:
                for v in (rc.params.model_dump().values() if rc.params else ()):
                    assert not (isinstance(v, float) and not math.isfinite(v))


@settings(FAST, max_examples=40)
@given(depth=st.integers(min_value=1, max_value=3000), kind=st.sampled_from("[{-"))
def test_any_nesting_depth_is_read_or_refused(tmp_path_factory, depth, kind) -> None:
    if kind == "[":
        body = "[" * depth + "]" * depth
    elif kind == "{":
        body = "{a: " * depth + "1" + "}" * depth
    else:
        body = "\n" + "".join(" " * min(i, 200) + "- \n" for i in range(depth))
    _load(tmp_path_factory.mktemp("deep"), "apiVersion: mrm-gate/v1\nkind: Policy\ntiers: "
          + body + "\n")


NUMERIC_SITES = [
    ("tiering", "rules", 0, "all", 0, "gte"),
    ("tiers", "low", "controls", 0, "params", "min"),
    ("tiers", "low", "controls", 1, "params", "thresholds", "psi", "red"),
    ("tiers", "high", "controls", 0, "params", "max"),
    ("tiers", "high", "controls", 0, "params", "scenario", "u"),
]
numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([float("nan"), float("inf"), -float("inf"), True, False]))


@FAST
@given(site=st.sampled_from(NUMERIC_SITES), value=numbers)
def test_a_number_loads_if_and_only_if_it_is_a_finite_real(tmp_path_factory, site,
                                                            value) -> None:
    data = copy.deepcopy(SKELETON)
    node = data
    for part in site[:-1]:
        node = node[part]
    node[site[-1]] = value
    pol = _load(tmp_path_factory.mktemp("num"), _dump(data))
    finite_real = not isinstance(value, bool) and math.isfinite(value)
    if not finite_real:
        assert pol is None, f"{site}: {value!r} was accepted"


tag_values = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["25,000,000", "inf", "-Infinity", "nan", "1e400", "1_000", " 12 ", "٣",
                     "a" * 5000 + "!", "0x10", "1e3", "true", "", "  "]),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)


def _reads_as_finite_number(text: str) -> bool | None:
    """True/False whether the tag is a readable number; None when it is absent (blank)."""
    if not text.strip():
        return None
    try:
        return math.isfinite(float(text.replace("_", "").strip()))
    except ValueError:
        return False


@FAST
@given(exposure=tag_values, purpose=tag_values, declared=st.sampled_from([None, "low", "high"]))
def test_tiering_on_hostile_tags_resolves_or_blocks(tmp_path_factory, exposure, purpose,
                                                    declared) -> None:
    pol = _load(tmp_path_factory.mktemp("tier"), _dump(SKELETON))
    assert pol is not None
    tags = {"mrm.exposure": exposure, "mrm.purpose": purpose}
    if declared:
        tags["mrm.risk_tier"] = declared
    ev = Evidence.model_validate({"model": {"name": "m", "version": "1", "tags": tags}})
    readable = _reads_as_finite_number(exposure)
    try:
        tier = resolve_tier(pol, ev)
    except TierError as exc:
        assert readable is False, f"{exposure!r} is readable, yet: {exc}"
        assert "mrm.exposure" in str(exc)
        return
    assert readable is not False, f"unreadable exposure {exposure!r} resolved to {tier}"
    assert tier.tier in pol.tier_names


WAIVER = {"id": "W-1", "control": "MRM-PERF-001", "model": "m", "version": "*",
          "reason": "r", "approver": "cro", "expires": dt.date(2027, 1, 31)}


@settings(FAST, max_examples=60)
@given(changes=st.dictionaries(st.sampled_from([*WAIVER, "extra"]), hostile_values, max_size=3))
def test_hostile_waivers_load_or_are_refused(tmp_path_factory, changes) -> None:
    tmp = tmp_path_factory.mktemp("waivers")
    pol = _load(tmp, _dump(SKELETON))
    assert pol is not None
    w = tmp / "w.yaml"
    w.write_text(_dump({"apiVersion": "mrm-gate/v1", "kind": "Waivers",
                        "waivers": [{**WAIVER, **changes}]}), errors="surrogatepass")
    try:
        waivers = load_waivers(w, pol)
    except UserError:
        return
    assert waivers[0].approver.strip() and waivers[0].reason.strip()


def test_fuzz_targets_cover_the_skeleton(tmp_path) -> None:
    """The skeleton itself is a valid policy (so mutations start from something that loads)."""
    assert _load(tmp_path, _dump(SKELETON)) is not None
    assert dt.date.today()  # dates are among the hostile values
