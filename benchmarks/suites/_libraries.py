"""The same validation, each library called its default way (one fresh process).

    python _libraries.py EVIDENCE_FOLDER OUT.json

Great Expectations 1.x (ephemeral context, the 40 expectations), Fairlearn (`MetricFrame` with
five metrics, `demographic_parity_ratio`, `equalized_odds_difference`), Evidently 0.7
(`Report([DataDriftPreset()])` on the 22 features and the score), SHAP (`TreeExplainer` on a
1,000-row sample of the model loaded with mlflow.pyfunc).
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _data import FEATURES, GROUP, NUMERIC, TARGET, expectations


def main(folder: Path, out: Path) -> None:
    warnings.filterwarnings("ignore")
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    import numpy as np
    import pandas as pd

    ref = pd.read_parquet(folder / "data" / "reference.parquet")
    cur = pd.read_parquet(folder / "data" / "current.parquet")
    result: dict = {}

    import great_expectations as gx
    from great_expectations.core.expectation_suite import ExpectationSuite

    ctx = gx.get_context(mode="ephemeral")
    batch = ctx.data_sources.add_pandas("bench").add_dataframe_asset("current") \
        .add_batch_definition_whole_dataframe("all").get_batch(batch_parameters={"dataframe": cur})
    suite = ExpectationSuite(name="bench", expectations=expectations(len(cur)))
    res = batch.validate(suite)
    result["dq_failed"] = sum(not r.success for r in res.results)

    from fairlearn.metrics import (
        MetricFrame,
        demographic_parity_ratio,
        equalized_odds_difference,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score, precision_score

    kw = {"y_true": ref[TARGET], "y_pred": ref["prediction"], "sensitive_features": ref[GROUP]}
    mf = MetricFrame(metrics={"selection_rate": selection_rate, "tpr": true_positive_rate,
                              "fpr": false_positive_rate, "accuracy": accuracy_score,
                              "precision": precision_score}, **kw)
    result["by_group"] = mf.by_group.to_dict()
    result["demographic_parity_ratio"] = float(demographic_parity_ratio(**kw))
    result["equalized_odds_difference"] = float(equalized_odds_difference(**kw))

    from evidently import Report
    from evidently.presets import DataDriftPreset

    cols = [*FEATURES, "score"]
    snapshot = Report([DataDriftPreset()]).run(current_data=cur[cols], reference_data=ref[cols])
    result["evidently_metrics"] = len(snapshot.dict()["metrics"])

    import mlflow.pyfunc
    import shap

    model = mlflow.pyfunc.load_model(str(folder / "model")).get_raw_model()
    sample = ref[NUMERIC].sample(1000, random_state=0)
    values = shap.TreeExplainer(model)(sample).values
    importance = np.abs(values).mean(axis=0)
    result["shap_top5"] = [NUMERIC[i] for i in np.argsort(-importance)[:5]]
    out.write_text(json.dumps(result, default=str))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
