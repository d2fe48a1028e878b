"""mrm-gate: a policy-as-code gate for model risk management.

The package root stays import-light on purpose: `mrm-gate --help` and `policy validate` must not
pull in mlflow, shap, great_expectations or evidently.
"""

__version__ = "0.1.0"
