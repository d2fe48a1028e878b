"""Fixtures of the action's tests; they live in gh_sim.py, a module name no other test dir uses."""

from gh_sim import gh_repo, github_api, runner

__all__ = ["gh_repo", "github_api", "runner"]
