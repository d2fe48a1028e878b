"""Route coverage: every registry-mutating route MLflow serves is gated or explicitly allowed.

Walks MLflow's own route tables (the Flask url_map, the protobuf ModelRegistryService, the
native FastAPI routers and the GraphQL mutations), so a new registry route in a future MLflow
fails this test instead of silently bypassing the gate.
"""

from __future__ import annotations

import re

import pytest

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
REGISTRY_PATH = re.compile(r"/(registered-models|model-versions)(/|$)")


@pytest.fixture(scope="module")
def tables():
    from mrm_gate_mlflow import routes

    return routes, routes.endpoint_table()


def test_every_registry_request_class_is_classified(tables):
    from mlflow.protos.model_registry_pb2 import ModelRegistryService

    routes, table = tables
    unclassified = []
    for method in ModelRegistryService.DESCRIPTOR.methods:
        cls = ModelRegistryService().GetRequestClass(method)
        methods = {m for (_, m), c in table.items() if c is cls}
        if methods & MUTATING and cls not in routes.GATED and cls not in routes.ALLOWED:
            unclassified.append(f"{method.name} {sorted(methods)}")
    assert not unclassified, f"registry requests neither gated nor allowed: {unclassified}"
    assert not set(routes.GATED) & set(routes.ALLOWED)


def test_every_mutating_registry_route_in_flask_is_covered(tables):
    from mlflow.server import app

    routes, table = tables
    uncovered = []
    seen = 0
    for rule in app.url_map.iter_rules():
        if not REGISTRY_PATH.search(rule.rule):
            continue
        for method in (rule.methods or set()) & MUTATING:
            seen += 1
            cls = table.get((rule.rule, method))
            if cls is None or (cls not in routes.GATED and cls not in routes.ALLOWED):
                uncovered.append(f"{method} {rule.rule} -> {rule.endpoint}")
    assert seen >= 30, "expected MLflow's registry routes in the Flask app"
    assert not uncovered, f"registry routes that bypass the gate: {uncovered}"


@pytest.mark.parametrize("path_prefix", ["/api/2.0", "/ajax-api/2.0"])
@pytest.mark.parametrize("request_name,method,suffix", [
    ("SetRegisteredModelAlias", "POST", "/mlflow/registered-models/alias"),
    ("DeleteRegisteredModelAlias", "DELETE", "/mlflow/registered-models/alias"),
    ("TransitionModelVersionStage", "POST", "/mlflow/model-versions/transition-stage"),
    ("SetModelVersionTag", "POST", "/mlflow/model-versions/set-tag"),
    ("DeleteModelVersionTag", "DELETE", "/mlflow/model-versions/delete-tag"),
    ("SetRegisteredModelTag", "POST", "/mlflow/registered-models/set-tag"),
    ("CreateModelVersion", "POST", "/mlflow/model-versions/create"),
])
def test_gated_on_rest_and_ajax_paths(request_name, method, suffix, path_prefix):
    from mrm_gate_mlflow.routes import gated_endpoints

    hit = gated_endpoints().get((path_prefix + suffix, method))
    assert hit is not None and hit[0].__name__ == request_name


def test_no_native_fastapi_route_touches_the_registry():
    """Native FastAPI routes never reach Flask's before_request hook, so none may be a
    registry route."""
    import mlflow.server.fastapi_app as fastapi_app
    from fastapi import APIRouter

    offending = []
    for name in dir(fastapi_app):
        router = getattr(fastapi_app, name)
        if isinstance(router, APIRouter):
            for route in router.routes:
                path = router.prefix + getattr(route, "path", "")
                if REGISTRY_PATH.search(path) or "registered-model" in path:
                    offending.append(path)
    assert not offending


def test_graphql_has_no_registry_mutation():
    from mlflow.server.graphql.graphql_schema_extensions import schema

    fields = set(schema.graphql_schema.mutation_type.fields)
    registry = [f for f in fields if re.search(r"(?i)registered|modelversion|alias", f)]
    assert not registry, f"GraphQL mutations that change the registry: {registry}"
