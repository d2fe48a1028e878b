"""The policy language: YAML -> validated pydantic models -> a resolved `Policy`."""

from .loader import Policy, ResolvedControl, load_policy, load_waivers
from .model import Control, PolicyDocument, Predicate, Tiering, Waiver

__all__ = [
    "Control",
    "Policy",
    "PolicyDocument",
    "Predicate",
    "ResolvedControl",
    "Tiering",
    "Waiver",
    "load_policy",
    "load_waivers",
]
