"""Checks: one module per area; each check is a params model plus a function -> CheckResult."""
