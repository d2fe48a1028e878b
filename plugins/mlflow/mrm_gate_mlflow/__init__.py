"""mrm-gate-mlflow: MLflow server plugin that refuses promotions failing mrm-gate policy."""

__version__ = "0.1.0"
