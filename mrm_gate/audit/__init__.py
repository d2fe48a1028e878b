"""The decision log: append-only, hash-chained, anchored by signed checkpoints.

Every channel (CLI evaluate, promote, the gated MLflow server, the webhook receiver) records
through `DecisionLog.append`. `verify` checks the chain and every anchor (signed checkpoints,
an expected head); `query` lists and finds records. The threat model is in docs/security.md.

Modules: `records` (format and hash), `log` (append, torn-tail repair), `checkpoint` (signed
heads and their stores), `verifier`, `query`.
"""

from __future__ import annotations

from .checkpoint import (
    Checkpoint,
    CheckpointError,
    CheckpointStore,
    CheckpointWriter,
    FileCheckpointStore,
    SignedCheckpoint,
)
from .log import REPAIR_KIND, CheckpointFailed, DecisionLog
from .records import GENESIS, record_hash
from .verifier import VerifyResult, parse_head, verify

__all__ = [
    "GENESIS",
    "REPAIR_KIND",
    "Checkpoint",
    "CheckpointError",
    "CheckpointFailed",
    "CheckpointStore",
    "CheckpointWriter",
    "DecisionLog",
    "FileCheckpointStore",
    "SignedCheckpoint",
    "VerifyResult",
    "parse_head",
    "record_hash",
    "verify",
]
