"""The policy reference pages and the control catalogue are generated, and up to date."""

from __future__ import annotations

import importlib.util

from policy_helpers import REFERENCE, ROOT


def _generator():
    spec = importlib.util.spec_from_file_location("docs_generate", ROOT / "docs" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_docs_are_up_to_date():
    gen = _generator()
    stale = gen.stale(gen.outputs())
    assert not stale, (f"stale generated docs: {[str(p.relative_to(ROOT)) for p in stale]}; "
                       "run `python docs/generate.py` and commit the result")


def test_docs_cover_every_policy_control_and_check():
    gen = _generator()
    files = gen.outputs()
    for name in REFERENCE:
        assert (ROOT / "docs" / "policies" / name.replace(".yaml", ".md")) in files
    catalogue = files[ROOT / "docs" / "controls.md"]
    for check in gen.builtin_checks():
        assert f'<a id="{gen.check_anchor(check)}"></a>' in catalogue
    page = files[ROOT / "docs" / "policies" / "default.md"]
    assert "| [MRM-GOV-002](#mrm-gov-002) |" in page and "max_age_days=180" in page
    assert "`eu-ai-act:art-10.2.f`: Examination of data for biases" in page
