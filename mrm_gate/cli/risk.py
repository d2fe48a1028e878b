"""`mrm-gate risk`: the gap-based model-risk measures of a backtest, and of a portfolio.

    mrm-gate risk BACKTEST [--alpha A] [--ybar Y] [--variant V] [--horizon T] [--format F]
    mrm-gate risk portfolio BACKTEST... | --risk-type TYPE --tracking-uri URI  [--allocated-fund X]

BACKTEST is a CSV or Parquet file, a local evidence folder, or `models:/name/version` (the
backtest named in the evidence). `mrm_gate.risk` (scipy) and matplotlib are imported inside the
commands, so `mrm-gate --help` does not pay for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import UserError

if TYPE_CHECKING:
    from ..risk import Backtest

FORMATS = ("text", "json", "html")
VARIANT_CHOICES = ("all", "normal", "paper", "empirical", "systemic", "ou")


class _DefaultAnalyse(click.Group):
    """A group whose first argument, when it is not a subcommand, is a backtest to analyse."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["analyse", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_DefaultAnalyse)
def risk() -> None:
    """Gap-based model-risk measures (Benizri & Genest, 2019) of backtests.

    \b
    mrm-gate risk BACKTEST ...          one model (same as `mrm-gate risk analyse BACKTEST`)
    mrm-gate risk portfolio FILES ...   aggregation at risk-type level
    """


def _mre(value: str | None) -> float | str | None:
    if value is None or value in ("expected_loss", "exposure"):
        return value
    try:
        return float(value)
    except ValueError:
        raise UserError(
            f"--mre must be expected_loss, exposure or a number, got {value!r}"
        ) from None


def _scenario(items: Sequence[str]) -> dict[str, float] | None:
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            if not sep or not name:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise UserError(f"--scenario takes NAME=NUMBER, got {item!r}") from None
    return out or None


def _factors(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [f.strip() for f in value.split(",") if f.strip()]


def load_backtest(
    source: str, *, factors: list[str] | None, tracking_uri: str | None, name: str | None = None
) -> Backtest:
    """A backtest from a file, an evidence folder, or a models:/ URI (user errors, no trace)."""
    from ..risk import RiskInputError, read_backtest

    path = Path(source)
    try:
        from ..evidence import load_evidence
        from ..evidence.source import open_source

        if path.is_dir() or path.name in ("evidence.yaml", "evidence.yml") or (
                not path.exists() and open_source(source).name != "local"):
            # evidence (a folder, models:/..., a plugin's subject), not a backtest file

            ev = load_evidence(source, tracking_uri=tracking_uri)
            if ev.backtest is None:
                raise UserError(
                    f"the evidence of {source} names no backtest (add `backtest: "
                    "{path: backtest.csv}` to its evidence.yaml)"
                )
            local = ev.open_file(ev.backtest.path)
            return read_backtest(
                local, name=name or ev.model.name, format=ev.backtest.format, factors=factors
            )
        return read_backtest(path, name=name, factors=factors)
    except RiskInputError as exc:
        raise UserError(str(exc)) from None


def _emit(text: str, output: Path | None) -> None:
    """stdout, or a new file: an existing file is never overwritten (exit 2 naming it)."""
    if output is None:
        click.echo(text, nl=False)
        return
    from ..output import write_new_file

    write_new_file(output, text)
    click.echo(f"wrote {output}", err=True)


def _common(fn):
    opts = [
        click.option(
            "--ybar", type=float, help="Overestimation limit of situation 3 (D^M > ybar)."
        ),
        click.option(
            "--n-boot",
            type=int,
            default=2000,
            show_default=True,
            help="Bootstrap replicates for the intervals (0: none).",
        ),
        click.option("--confidence", type=float, default=0.95, show_default=True),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option(
            "--mre", help="Model risk exposure: expected_loss (default), exposure, or a number."
        ),
        click.option(
            "--factors",
            help="Comma-separated external-factor columns (default: every "
            "other numeric column; '' for none).",
        ),
        click.option("--tracking-uri", help="MLflow tracking URI for models:/ sources."),
        click.option(
            "--scaling",
            type=click.Choice(("margin", "expected_loss")),
            default="margin",
            show_default=True,
            help="What the gap with margin is relative to: margin = EL + margin (the paper's "
            "D^M), expected_loss = EL before margin (earlier convention: D^M = D + margin/EL).",
        ),
        click.option(
            "--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True
        ),
        click.option(
            "-o",
            "--output",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Write to this new file instead of stdout (an existing file is never "
            "overwritten).",
        ),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


@risk.command("analyse")
@click.argument("backtest")
@click.option("--alpha", type=float, help="Target MR2: report the margin ratio that achieves it.")
@click.option(
    "--variant",
    type=click.Choice(VARIANT_CHOICES),
    default="all",
    show_default=True,
    help="Variant(s) to compute; `all` also recommends one.",
)
@click.option(
    "--horizon",
    type=float,
    help="Horizon in the time unit of --period-length (default: one period): the OU forecast, "
    "and the span of --monte-carlo (a whole number of periods).",
)
@click.option(
    "--monte-carlo",
    "monte_carlo",
    type=int,
    default=0,
    show_default=True,
    metavar="N",
    help="Simulate N paths (>= 1000, e.g. 100000) of the gap process over --horizon: the "
    "distribution of the cumulative uncovered loss, its 95%/99% quantiles and Monte Carlo "
    "standard error next to the closed forms (0: none).",
)
@click.option(
    "--period-length",
    type=float,
    default=1.0,
    show_default=True,
    help="Length of a period in the OU time unit (0.25: quarters in years).",
)
@click.option(
    "--scenario",
    multiple=True,
    metavar="NAME=VALUE",
    help="Stress value of an external factor (systemic variant); repeatable.",
)
@_common
def analyse(backtest, alpha, variant, horizon, monte_carlo, period_length, scenario,
            **common) -> int:
    """(default) Every gap-based measure of one backtest: MR1, MR2, MR3 per variant with
    intervals, LGMR2 and EL_RM(2), the margin needed for --alpha, the systemic and OU fits, and
    the assumption tests with the variant they recommend."""
    from ..risk import RESULT_VARIANTS, RiskInputError
    from ..risk import analyse as run_analysis

    bt = load_backtest(backtest, factors=_factors(common["factors"]),
                       tracking_uri=common["tracking_uri"])  # fmt: skip
    variants = RESULT_VARIANTS if variant == "all" else (variant,)
    try:
        report = run_analysis(
            bt, alpha=alpha, horizon=horizon, period_length=period_length,
            scenario=_scenario(scenario), variants=variants, monte_carlo=monte_carlo,
            **_estimation(common),
        )  # fmt: skip
    except RiskInputError as exc:
        raise UserError(str(exc)) from None
    if variant != "all" and variant in report.errors:
        raise UserError(f"the {variant} variant cannot be computed: {report.errors[variant]}")
    _render(common, report, variant=None if variant == "all" else variant)
    return 0


def _estimation(common: dict[str, Any]) -> dict[str, Any]:
    """The estimation settings shared by `analyse` and `portfolio`."""
    keys = ("ybar", "n_boot", "confidence", "seed", "scaling")
    return {k: common[k] for k in keys} | {"mre": _mre(common["mre"])}


def _render(common: dict[str, Any], result: Any, **options: Any) -> None:
    """Render `result` in the chosen format (`mrm_gate.output.render`) and emit it."""
    from ..output import render

    try:
        out = render(result, common["fmt"], **options)
    except ImportError as exc:  # matplotlib (HTML plots) is in the suites extra
        raise UserError(f"--format {common['fmt']} draws plots with matplotlib ({exc}); "
                        "pip install 'mrm-gate[suites]'") from None
    _emit(out, common["output"])


def registry_backtests(
    *,
    tracking_uri: str | None,
    risk_type: str,
    alias: str | None,
    factors: list[str] | None,
    timeout_s: float = 10.0,
) -> tuple[dict[str, Backtest], list[str]]:
    """One backtest per registered model whose version (or model) carries `risk_type`.

    Per model: the version holding `alias` when given, else the highest version number carrying
    the tag. Models whose chosen version has no backtest are skipped, and named in the notes.
    """
    from mlflow.tracking import MlflowClient

    from ..errors import EvidenceError
    from ..evidence.mlflow_source import (
        bounded_http,
        probe_server,
        resolve_tracking_uri,
        version_evidence,
    )
    from ..risk import RiskInputError, read_backtest

    if "'" in risk_type or "`" in risk_type:
        raise UserError(f"--risk-type {risk_type!r} may not contain quotes")
    turi = resolve_tracking_uri(tracking_uri)
    probe_server(turi, timeout_s)
    notes: list[str] = []
    out: dict[str, Backtest] = {}
    with bounded_http(timeout_s):
        client = MlflowClient(tracking_uri=turi, registry_uri=turi)
        query = f"tags.risk_type = '{risk_type}'"
        try:
            tagged = list(client.search_model_versions(query))
            models = [m.name for m in client.search_registered_models(query)]
        except Exception as exc:
            raise EvidenceError(f"cannot search the registry at {turi}: {exc}") from None
        chosen: dict[str, str] = {}
        for mv in tagged:
            if int(mv.version) > int(chosen.get(mv.name, "0")):
                chosen[mv.name] = str(mv.version)
        for name in models:
            if any(c in name for c in "'\"\\"):  # a name is data, never part of a filter
                notes.append(f"{name!r}: a name with quotes cannot be searched safely; skipped")
                continue
            for mv in client.search_model_versions(f"name = '{name}'"):
                if mv.name != name:
                    continue
                if int(mv.version) > int(chosen.get(name, "0")):
                    chosen[name] = str(mv.version)
        if alias:
            for name in list(chosen):
                try:
                    chosen[name] = str(client.get_model_version_by_alias(name, alias).version)
                except Exception:
                    notes.append(f"{name}: no version holds @{alias}; skipped")
                    del chosen[name]
        for name, version in sorted(chosen.items()):
            uri = f"models:/{name}/{version}"
            ev = version_evidence(client, turi, name, version, uri)
            if ev.backtest is None:
                notes.append(f"{uri}: no backtest in its evidence; skipped")
                continue
            try:
                out[name] = read_backtest(
                    ev.open_file(ev.backtest.path),
                    name=name,
                    format=ev.backtest.format,
                    factors=factors,
                )
            except RiskInputError as exc:
                raise UserError(f"{uri}: backtest {ev.backtest.path}: {exc}") from None
            notes.append(f"{name}: version {version}")
    if not out:
        raise UserError(
            f"no registered model version at {turi} carries risk_type = "
            f"{risk_type!r} and a backtest"
        )
    return out, notes


@risk.command("portfolio")
@click.argument("backtests", nargs=-1)
@click.option(
    "--risk-type",
    help="Aggregate every registered model tagged risk_type=TYPE "
    "(MLflow registry; needs --tracking-uri or MLFLOW_TRACKING_URI).",
)
@click.option(
    "--alias",
    help="With --risk-type: use the version holding this alias (default: "
    "the latest tagged version).",
)
@click.option(
    "--allocated-fund", type=float, help="Fund allocated to model risk, compared with EL_RM(2)."
)
@_common
def portfolio(backtests, risk_type, alias, allocated_fund, **common) -> int:
    """Aggregate several models of one risk type: D_Total, MR2_agg, LGMR2 and EL_RM(2) against
    the allocated fund. BACKTESTS are files, evidence folders, models:/ URIs, or NAME=SOURCE."""
    from ..risk import RiskInputError, aggregate

    fac = _factors(common["factors"])
    turi = common["tracking_uri"]
    notes: list[str] = []
    if risk_type:
        if backtests:
            raise UserError("give backtest files or --risk-type, not both")
        models, notes = registry_backtests(
            tracking_uri=turi, risk_type=risk_type, alias=alias, factors=fac
        )
    else:
        if not backtests:
            raise UserError("give at least one backtest (or --risk-type to read the registry)")
        models = {}
        for item in backtests:
            name, sep, source = item.partition("=")
            if not sep or ":/" in name:  # a URI (models:/..., plugin subjects), not NAME=
                name, source = "", item
            bt = load_backtest(source, factors=fac, tracking_uri=turi, name=name or None)
            if bt.name in models:
                raise UserError(
                    f"two backtests are named {bt.name!r}; use NAME=FILE to tell them apart"
                )
            models[bt.name] = bt
    try:
        result = aggregate(models, allocated_fund=allocated_fund, **_estimation(common))
    except RiskInputError as exc:
        raise UserError(str(exc)) from None
    _render(common, result, notes=notes)
    return 0
