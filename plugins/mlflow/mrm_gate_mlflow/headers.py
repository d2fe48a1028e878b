"""MLflow request header provider: break-glass from the plain MlflowClient.

Registered under the `mlflow.request_header_provider` entry point, so any MLflow client in an
environment with this plugin installed sends the break-glass header when
`MRM_GATE_BREAK_GLASS_REASON` is set::

    MRM_GATE_BREAK_GLASS_REASON="INC-1234: scoring outage, rollback to v7" \\
        python -c "from mlflow import MlflowClient; \\
                   MlflowClient().set_registered_model_alias('credit', 'champion', 7)"

The server still checks that the authenticated user is allowed to use break-glass.
"""

from __future__ import annotations

import os

from mrm_gate.mlflow import BREAK_GLASS_ENV, BREAK_GLASS_HEADER, encode_reason


class BreakGlassHeaderProvider:
    def in_context(self) -> bool:
        return bool(os.environ.get(BREAK_GLASS_ENV, "").strip())

    def request_headers(self) -> dict[str, str]:
        return {BREAK_GLASS_HEADER: encode_reason(os.environ[BREAK_GLASS_ENV].strip())}
