"""A small MLflow REST client (API 2.0, standard library only) for the gate's registry and run
reads.

Why: a cold `mrm-gate evaluate models:/...` against a tracking *server* spent most of its time
importing MLflow (the package, then the MlflowClient and its stores: seconds). The gate only
reads: a registered model, a version (or the version holding an alias), the run, its artifact
listing and a few artifact files. Those are plain JSON GETs against the server, so for http(s)
tracking URIs `MlflowSource` uses this client and never imports `mlflow`.

It returns small objects with the attributes `version_evidence` reads, filled exactly as MLflow's
own `from_proto` fills its entities (absent strings are "", absent timestamps 0, a version's
`description`/`run_id` are None when absent, duplicated keys: the last wins), and lists and
downloads artifacts the way MLflow's client does for a run whose artifact URI is proxied by the
server (`mlflow-artifacts:`): `GET /api/2.0/mlflow-artifacts/artifacts?path=` to list (each level
sorted by path, entries validated like MLflow's `validate_path_is_safe`), the same endpoint plus
the path to download, and, as MLflow 3's `runs:/` repository does, the artifacts of a logged model
of the run named by the first path component. Artifact URIs the server does not proxy (s3:, gs:,
file: ...) are read through MLflow itself (imported then, for that only), as the client would.

Connection settings are MLflow's: `MLFLOW_TRACKING_USERNAME`/`PASSWORD` (or
`~/.mlflow/credentials`) for basic auth, else `MLFLOW_TRACKING_TOKEN` (bearer);
`MLFLOW_TRACKING_INSECURE_TLS`, `MLFLOW_TRACKING_SERVER_CERT_PATH`,
`MLFLOW_TRACKING_CLIENT_CERT_PATH`, `REQUESTS_CA_BUNDLE`/`CURL_CA_BUNDLE`, `MLFLOW_WORKSPACE`.
TLS is verified unless told otherwise. Each request has a bounded timeout and one retry on a
dropped connection or a transient status (429, 5xx), like the gate's bounded MLflow settings.
What it cannot reproduce faithfully makes `fallback_reason()` name why, and the MLflow client is
used instead: auth plugins (`MLFLOW_TRACKING_AUTH`), AWS SigV4, an HTTP proxy for the host,
a netrc file, credentials inside the URI, third-party MLflow request-header providers, or
`MRM_GATE_MLFLOW_REST=0` (the escape hatch).
"""

from __future__ import annotations

import base64
import json
import os
import posixpath
import time
from collections.abc import Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlparse, urlunparse

from .mlflow_source import CachedRunArtifacts

API = "/api/2.0/mlflow"
ARTIFACTS_ROOT = "/api/2.0/mlflow-artifacts/artifacts"
DISABLE_ENV = "MRM_GATE_MLFLOW_REST"
MAX_JSON_BYTES = 64 * 1024 * 1024
MAX_DOWNLOAD_FILES = 10_000
MAX_LOGGED_MODEL_PAGES = 50
RETRY_STATUSES = (429, 500, 502, 503, 504)
RETRY_SLEEP_S = 0.2
CHUNK = 1024 * 1024
# Our own MLflow plugin's header provider only adds a break-glass header to writes.
KNOWN_HEADER_PROVIDERS = ("mrm_gate_mlflow",)
_STATUS_CODES = {400: "BAD_REQUEST", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                 404: "ENDPOINT_NOT_FOUND", 429: "REQUEST_LIMIT_EXCEEDED",
                 500: "INTERNAL_ERROR", 503: "TEMPORARILY_UNAVAILABLE"}


class RestError(Exception):
    """An error answer (or no answer) from the server. `error_code` as MLflow names it, so
    callers tell "does not exist" from "could not be read" as they do with MlflowException."""

    def __init__(self, message: str, *, error_code: str = "INTERNAL_ERROR",
                 status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.error_code = error_code
        self.status = status


# --- entities: the attributes version_evidence reads, as MLflow's from_proto fills them ---------
# Plain namespaces, not dataclasses: defining a dataclass costs milliseconds (generated code),
# and this module is on the cold path. The readers below always set every attribute.

class RegisteredModel(SimpleNamespace):
    """name, description ("" when absent), tags (dict)."""


class ModelVersion(SimpleNamespace):
    """name, version, creation_timestamp, last_updated_timestamp (0 when absent), description
    and run_id (None when absent), user_id, current_stage, source, status ("" when absent),
    tags (dict), aliases (list)."""


class InputTag(SimpleNamespace):
    """key, value."""


class Dataset(SimpleNamespace):
    """name, digest, source_type, source ("" when absent), schema, profile (None when absent)."""


class DatasetInput(SimpleNamespace):
    """dataset (Dataset), tags (list of InputTag)."""


class RunInputs(SimpleNamespace):
    """dataset_inputs (list of DatasetInput)."""


class RunInfo(SimpleNamespace):
    """run_id, run_name, experiment_id, user_id, status, lifecycle_stage, artifact_uri ("" when
    absent), start_time (0 when absent), end_time (None when absent)."""


class RunData(SimpleNamespace):
    """metrics (key -> float), params, tags (key -> str); the last of a repeated key wins."""


class Run(SimpleNamespace):
    """info, data, inputs."""


class FileInfo(SimpleNamespace):
    """path, is_dir, file_size (None when not given)."""


class LoggedModel(SimpleNamespace):
    """model_id, name, source_run_id, artifact_location."""


# --- strict field readers (a hostile server's JSON errors, as protobuf parsing would) -----------

def _obj(data: Any, what: str) -> dict:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RestError(f"malformed answer: {what} is not an object")
    return data


def _list(data: Any, what: str) -> list:
    if data is None:
        return []
    if not isinstance(data, list):
        raise RestError(f"malformed answer: {what} is not a list")
    return data


def _str(data: dict, key: str, default: Any = "") -> Any:
    value = data.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise RestError(f"malformed answer: {key} is not a string")
    return value


def _int(data: dict, key: str) -> int:
    value = data.get(key)
    if value is None:
        return 0
    if isinstance(value, bool):
        raise RestError(f"malformed answer: {key} is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise RestError(f"malformed answer: {key} is not an integer")


def _double(value: Any, what: str) -> float:
    """A proto double from JSON, as protobuf's json_format reads it: numbers, and strings in
    Python float syntax or "NaN"/"Infinity"/"-Infinity" (literal NaN/inf and "nan" refused)."""
    if value is None:
        return 0.0
    if isinstance(value, bool):
        raise RestError(f"malformed answer: {what} is not a number")
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise RestError(f"malformed answer: {what} is a bare NaN/Infinity")
        return value
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:
            raise RestError(f"malformed answer: {what} is out of range") from None
    if isinstance(value, str) and value != "nan":
        try:
            return float(value)
        except ValueError:
            pass
    raise RestError(f"malformed answer: {what} is not a number")


def _tags(items: Any, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for t in _list(items, what):
        t = _obj(t, what)
        out[_str(t, "key")] = _str(t, "value")
    return out


def _model_version(data: Any) -> ModelVersion:
    d = _obj(data, "model_version")
    return ModelVersion(
        name=_str(d, "name"), version=_str(d, "version"),
        creation_timestamp=_int(d, "creation_timestamp"),
        last_updated_timestamp=_int(d, "last_updated_timestamp"),
        description=_str(d, "description", None), user_id=_str(d, "user_id"),
        current_stage=_str(d, "current_stage"), source=_str(d, "source"),
        run_id=_str(d, "run_id", None), status=_str(d, "status"),
        tags=_tags(d.get("tags"), "model version tags"),
        aliases=[a if isinstance(a, str) else _bad("alias") for a in _list(d.get("aliases"),
                                                                             "aliases")],
    )


def _bad(what: str) -> Any:
    raise RestError(f"malformed answer: {what} is not a string")


def _run(data: Any) -> Run:
    d = _obj(data, "run")
    i = _obj(d.get("info"), "run info")
    end = _int(i, "end_time")
    info = RunInfo(run_id=_str(i, "run_id"), run_name=_str(i, "run_name"),
                   experiment_id=_str(i, "experiment_id"), user_id=_str(i, "user_id"),
                   status=_str(i, "status"), start_time=_int(i, "start_time"),
                   end_time=end or None, lifecycle_stage=_str(i, "lifecycle_stage"),
                   artifact_uri=_str(i, "artifact_uri"))
    rd = _obj(d.get("data"), "run data")
    metrics: dict[str, float] = {}
    for m in _list(rd.get("metrics"), "metrics"):
        m = _obj(m, "metric")
        key = _str(m, "key")
        metrics[key] = _double(m.get("value"), f"metric {key!r}")
    data_ = RunData(metrics=metrics, params=_tags(rd.get("params"), "params"),
                    tags=_tags(rd.get("tags"), "run tags"))
    inputs = []
    for di in _list(_obj(d.get("inputs"), "run inputs").get("dataset_inputs"), "dataset inputs"):
        di = _obj(di, "dataset input")
        ds = _obj(di.get("dataset"), "dataset")
        tags = [InputTag(key=_str(t, "key"), value=_str(t, "value"))
                for t in (_obj(t, "input tag") for t in _list(di.get("tags"), "input tags"))]
        inputs.append(DatasetInput(
            dataset=Dataset(name=_str(ds, "name"), digest=_str(ds, "digest"),
                            source_type=_str(ds, "source_type"), source=_str(ds, "source"),
                            schema=_str(ds, "schema", None), profile=_str(ds, "profile", None)),
            tags=tags))
    return Run(info=info, data=data_, inputs=RunInputs(dataset_inputs=inputs))


# --- settings: MLflow's environment, or why this client cannot honour it ---------------------

def _env_bool(name: str) -> bool | None:
    """MLflow's boolean environment variables: unset/true/false/1/0; None when invalid."""
    raw = os.environ.get(name)
    if raw is None:
        return False
    low = raw.strip().lower()
    if low in ("true", "1"):
        return True
    if low in ("false", "0"):
        return False
    return None


def _third_party_header_providers() -> list[str]:
    from importlib.metadata import entry_points

    return [ep.value for ep in entry_points(group="mlflow.request_header_provider")
            if not ep.value.startswith(KNOWN_HEADER_PROVIDERS)]


def fallback_reason(tracking_uri: str) -> str | None:
    """Why the MLflow client must be used for `tracking_uri` (None: this client can)."""
    parsed = urlparse(tracking_uri)
    if parsed.scheme not in ("http", "https"):
        return "not an http(s) tracking URI"
    if os.environ.get(DISABLE_ENV, "").strip().lower() in ("0", "false", "no", "off"):
        return f"{DISABLE_ENV} turns the REST client off"
    if parsed.username or parsed.password:
        return "credentials inside the tracking URI"
    if os.environ.get("MLFLOW_TRACKING_AUTH"):
        return "MLFLOW_TRACKING_AUTH names an MLflow auth plugin"
    sigv4, insecure = (_env_bool("MLFLOW_TRACKING_AWS_SIGV4"),
                       _env_bool("MLFLOW_TRACKING_INSECURE_TLS"))
    if sigv4 is None or insecure is None:
        return "an MLflow boolean setting is not true/false (MLflow reports it)"
    if sigv4:
        return "AWS SigV4 signing"
    if insecure and os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH"):
        return "both MLFLOW_TRACKING_INSECURE_TLS and a server certificate (MLflow reports it)"
    if _proxied(parsed.scheme, parsed.hostname or ""):
        return "an HTTP proxy applies to the tracking server"
    netrc = os.environ.get("NETRC") or os.path.expanduser("~/.netrc")
    if os.path.exists(netrc) or os.path.exists(os.path.expanduser("~/_netrc")):
        return "a netrc file may hold credentials for the server"
    providers = _third_party_header_providers()
    if providers:
        return f"MLflow request-header plugins are installed ({', '.join(providers)})"
    return None


def _proxied(scheme: str, host: str) -> bool:
    """Whether requests (MLflow's HTTP library) would send this request through a proxy. On
    Linux proxies come only from the environment, so urllib (~50 ms to import) is loaded only
    when a *_proxy variable is set; elsewhere the system settings count too."""
    import sys

    if sys.platform.startswith("linux") and not any(
            k.lower().endswith("_proxy") for k in os.environ):
        return False
    import urllib.request

    return bool(urllib.request.getproxies().get(scheme)) and not urllib.request.proxy_bypass(host)


def _credentials() -> tuple[str | None, str | None]:
    """MLflow's `read_mlflow_creds`: each of username/password from the environment, else from
    the `[mlflow]` section of ~/.mlflow/credentials."""
    user_f = pw_f = None
    path = os.path.expanduser("~/.mlflow/credentials")
    if os.path.exists(path):
        import configparser

        cfg = configparser.ConfigParser()
        cfg.read(path)
        if "mlflow" in cfg:
            user_f = cfg["mlflow"].get("mlflow_tracking_username")
            pw_f = cfg["mlflow"].get("mlflow_tracking_password")
    return (os.environ.get("MLFLOW_TRACKING_USERNAME") or user_f,
            os.environ.get("MLFLOW_TRACKING_PASSWORD") or pw_f)


def _headers() -> dict[str, str]:
    from .. import __version__

    headers = {"User-Agent": f"mrm-gate/{__version__}", "Accept": "application/json"}
    user, password = _credentials()
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if user and password:
        headers["Authorization"] = "Basic " + base64.standard_b64encode(
            f"{user}:{password}".encode()).decode("ascii")
    elif token:
        headers["Authorization"] = f"Bearer {token}"
    workspace = (os.environ.get("MLFLOW_WORKSPACE") or "").strip()
    if workspace:
        headers["X-MLFLOW-WORKSPACE"] = workspace
    return headers


def _tls_context():
    """Verification as MLflow's requests session does it: the server certificate path, else
    REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE, else certifi's bundle; off only when told."""
    import ssl

    if _env_bool("MLFLOW_TRACKING_INSECURE_TLS"):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ca = (os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH")
              or os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE"))
        if not ca:
            try:
                import certifi

                ca = certifi.where()
            except ImportError:
                ca = None
        if ca and os.path.isdir(ca):
            ctx = ssl.create_default_context(capath=ca)
        else:
            ctx = ssl.create_default_context(cafile=ca)
    cert = os.environ.get("MLFLOW_TRACKING_CLIENT_CERT_PATH")
    if cert:
        ctx.load_cert_chain(cert)
    return ctx


# --- transport ----------------------------------------------------------------------------------

class _Http:
    """One keep-alive connection to the tracking server; no redirects to another origin."""

    def __init__(self, base_uri: str, timeout_s: float) -> None:
        p = urlparse(base_uri.rstrip("/"))
        self.scheme, self.host = p.scheme, p.hostname or "localhost"
        self.port = p.port or (443 if p.scheme == "https" else 80)
        self.prefix = p.path.rstrip("/")
        self.netloc = p.netloc
        self.timeout_s = timeout_s
        self.headers = _headers()
        self._ctx = _tls_context() if p.scheme == "https" else None
        self._conn = None

    def _connection(self):
        if self._conn is None:
            import http.client

            if self.scheme == "https":
                self._conn = http.client.HTTPSConnection(self.host, self.port,
                                                         timeout=self.timeout_s,
                                                         context=self._ctx)
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port,
                                                        timeout=self.timeout_s)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def url(self, target: str) -> str:
        return f"{self.scheme}://{self.netloc}{target}"

    def open(self, method: str, target: str, body: bytes | None = None):
        """The response (status 200) to `method target`, its body unread. RestError otherwise."""
        headers = dict(self.headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        for attempt in (0, 1):
            try:
                conn = self._connection()
                conn.request(method, target, body=body, headers=headers)
                resp = conn.getresponse()
            except OSError as exc:  # refused, reset, timed out, TLS, a dropped keep-alive
                self.close()
                if attempt == 0:
                    time.sleep(RETRY_SLEEP_S)
                    continue
                raise RestError(f"API request to {self.url(target)} failed with exception "
                                f"{type(exc).__name__}: {exc}",
                                error_code="TEMPORARILY_UNAVAILABLE") from None
            except Exception as exc:  # http.client protocol errors
                self.close()
                if attempt == 0:
                    continue
                raise RestError(f"API request to {self.url(target)} failed: "
                                f"{type(exc).__name__}: {exc}") from None
            if resp.status == 200:
                return resp
            text = self._read(resp, MAX_JSON_BYTES).decode("utf-8", "replace")
            if resp.status in RETRY_STATUSES and attempt == 0:
                time.sleep(RETRY_SLEEP_S)
                continue
            raise self._error(resp.status, target, text)
        raise AssertionError("unreachable")

    @staticmethod
    def _read(resp, limit: int) -> bytes:
        data = resp.read(limit + 1)
        if len(data) > limit:
            resp.close()
            raise RestError(f"answer larger than {limit} bytes")
        return data

    def _error(self, status: int, target: str, text: str) -> RestError:
        try:
            payload = json.loads(text)
        except ValueError:
            payload = None
        if isinstance(payload, dict):  # MLflow's RestException text: "CODE: message"
            code = str(payload.get("error_code") or "INTERNAL_ERROR")
            message = str(payload.get("message") or "")
            return RestError(f"{code}: {message}", error_code=code, status=status)
        if 300 <= status < 400:
            return RestError(f"API request to {self.url(target)} was redirected ({status}); "
                             "set the tracking URI to the server's final address",
                             error_code="BAD_REQUEST", status=status)
        endpoint = target.split("?", 1)[0]
        return RestError(f"API request to endpoint {endpoint} failed with error code "
                         f"{status} != 200. Response body: '{text[:500]}'",
                         error_code=_STATUS_CODES.get(status, "INTERNAL_ERROR"), status=status)

    def json(self, method: str, endpoint: str, params: dict | None = None,
             body: dict | None = None) -> dict:
        """The JSON object answered to `method prefix+endpoint?params` (RestError otherwise)."""
        target = self.prefix + endpoint
        if params:
            target += "?" + urlencode(params)
        return self.json_at(method, target, body)

    def json_at(self, method: str, target: str, body: dict | None = None) -> dict:
        resp = self.open(method, target, json.dumps(body).encode() if body is not None else None)
        raw = self._read(resp, MAX_JSON_BYTES)
        what = target.split("?", 1)[0]
        if raw.strip() in (b"", b"200 OK"):
            return {}
        try:
            data = json.loads(raw)
        except ValueError:
            raise RestError(f"answer of {what} is not JSON") from None
        if not isinstance(data, dict):
            raise RestError(f"answer of {what} is not a JSON object")
        return data

    def download(self, target: str, local: str) -> None:
        resp = self.open("GET", target)
        try:
            with open(local, "wb") as f:
                while chunk := resp.read(CHUNK):
                    f.write(chunk)
        except Exception:
            self.close()  # a half-read body leaves the connection unusable
            raise


# --- artifact locations -------------------------------------------------------------------------

def _safe_listed_path(path: str) -> str:
    """MLflow's `validate_path_is_safe` on a listed name, returning it as MLflow does (decoded,
    control characters %-escaped)."""
    url = path
    for _ in range(10):
        decoded = urlunparse(urlparse(unquote(url)))
        if decoded == url:
            break
        url = decoded
    else:
        raise RestError("Invalid path", error_code="INVALID_PARAMETER_VALUE")
    url = "".join(f"%{ord(c):02x}" if ord(c) <= 31 or ord(c) == 127 else c for c in url)
    if url.startswith("file:"):
        raise RestError("Invalid path", error_code="INVALID_PARAMETER_VALUE")
    if ("#" in url or ".." in url.split("/") or PureWindowsPath(url).is_absolute()
            or PurePosixPath(url).is_absolute()):
        raise RestError("Invalid path", error_code="INVALID_PARAMETER_VALUE")
    return url


def _proxied_root(artifact_uri: str, http: _Http) -> str | None:
    """The server path under which an `mlflow-artifacts:` URI's files are served, as MLflow's
    `MlflowArtifactsRepository.resolve_uri` computes it; None for any other store (or another
    host), which MLflow's client reads itself."""
    uri = urlparse(artifact_uri)
    if uri.scheme != "mlflow-artifacts":
        return None
    if uri.netloc and uri.netloc != http.netloc:
        return None
    if uri.path == "/":
        resolved = f"{ARTIFACTS_ROOT}/"
    elif uri.path == ARTIFACTS_ROOT:
        resolved = ARTIFACTS_ROOT
    else:
        resolved = f"{http.prefix}/{ARTIFACTS_ROOT}/{uri.path}"
    while "//" in resolved:
        resolved = resolved.replace("//", "/")
    return resolved.rstrip("/")


class _ProxiedArtifacts:
    """An artifact root served by the tracking server (MLflow's HttpArtifactRepository)."""

    def __init__(self, http: _Http, root: str) -> None:
        self.http = http
        self.root = root  # e.g. /api/2.0/mlflow-artifacts/artifacts/1/<run>/artifacts

    def list(self, path: str | None) -> list[FileInfo]:
        api, _, tail = self.root.partition("/mlflow-artifacts/artifacts")
        rel = tail.lstrip("/")
        target = f"{api}/mlflow-artifacts/artifacts?" + urlencode(
            {"path": posixpath.join(rel, path) if path else rel})
        data = self.http.json_at("GET", target)
        infos = []
        for f in _list(_obj(data, "artifact listing").get("files"), "files"):
            f = _obj(f, "file")
            name = _safe_listed_path(_str(f, "path"))
            size = f.get("file_size")
            infos.append(FileInfo(path=posixpath.join(path, name) if path else name,
                                  is_dir=bool(f.get("is_dir")),
                                  file_size=int(size) if size is not None else None))
        if (len(infos) == 1 and not infos[0].is_dir and path is not None
                and infos[0].path == posixpath.join(path, os.path.basename(path))):
            return []  # the path is a file
        return sorted(infos, key=lambda f: f.path)

    def _iter_files(self, path: str, budget: list[int]) -> Iterator[FileInfo]:
        content = [f for f in self.list(path) if f.path not in (".", path)]
        if not content:
            yield FileInfo(path=path, is_dir=True, file_size=None)
            return
        for f in content:
            if f.is_dir:
                yield from self._iter_files(f.path, budget)
            else:
                budget[0] -= 1
                if budget[0] < 0:
                    raise RestError(f"more than {MAX_DOWNLOAD_FILES} files under {path!r}")
                yield f

    def download(self, path: str, dst: str) -> str:
        """MLflow's `ArtifactRepository.download_artifacts(path, dst)`: a file to dst/path, a
        directory (a path that lists something) with everything below it."""
        base = os.path.abspath(dst)
        if path in ("", None):
            files = list(self._iter_files("", [MAX_DOWNLOAD_FILES])) if self.list(None) else []
        elif self.list(path):
            files = list(self._iter_files(path, [MAX_DOWNLOAD_FILES]))
        else:
            files = [FileInfo(path=path, is_dir=False, file_size=None)]
        for f in files:
            local = os.path.normpath(os.path.join(base, f.path))
            if os.path.commonpath([base, local]) != base:
                raise RestError("Invalid path", error_code="INVALID_PARAMETER_VALUE")
            if f.is_dir:
                os.makedirs(local, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(local), exist_ok=True)
            self.http.download(f"{self.root}/{quote(f.path, safe='/')}", local)
        return os.path.join(base, path) if path else base


# --- the client ---------------------------------------------------------------------------------

class MlflowRestClient:
    """The read-only subset of `MlflowClient` that `MlflowSource` uses, over REST API 2.0."""

    def __init__(self, tracking_uri: str, timeout_s: float = 10.0) -> None:
        self.tracking_uri = tracking_uri
        self.http = _Http(tracking_uri, timeout_s)
        self._runs: dict[str, Run] = {}

    # registry
    def get_registered_model(self, name: str) -> RegisteredModel:
        d = _obj(self.http.json("GET", f"{API}/registered-models/get", {"name": name})
                 .get("registered_model"), "registered_model")
        return RegisteredModel(name=_str(d, "name"), description=_str(d, "description"),
                               tags=_tags(d.get("tags"), "registered model tags"))

    def get_model_version(self, name: str, version: str | int) -> ModelVersion:
        data = self.http.json("GET", f"{API}/model-versions/get",
                              {"name": name, "version": str(version)})
        return _model_version(data.get("model_version"))

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        data = self.http.json("GET", f"{API}/registered-models/alias",
                              {"name": name, "alias": alias})
        return _model_version(data.get("model_version"))

    def get_model_version_download_uri(self, name: str, version: str | int) -> str:
        data = self.http.json("GET", f"{API}/model-versions/get-download-uri",
                              {"name": name, "version": str(version)})
        return _str(data, "artifact_uri")

    # tracking
    def get_run(self, run_id: str) -> Run:
        run = _run(self.http.json("GET", f"{API}/runs/get",
                                  {"run_uuid": run_id, "run_id": run_id}).get("run"))
        self._runs[run_id] = run
        return run

    def _run_info(self, run_id: str) -> RunInfo:
        return (self._runs.get(run_id) or self.get_run(run_id)).info

    def _logged_model(self, run_id: str, name: str) -> LoggedModel | None:
        """The logged model `name` of the run (MLflow 3 keeps a model's files outside the run's
        artifacts; its `runs:/` repository shows them under the model's name)."""
        experiment_id = self._run_info(run_id).experiment_id
        token = None
        for _ in range(MAX_LOGGED_MODEL_PAGES):
            body: dict[str, Any] = {"experiment_ids": [experiment_id],
                                    "filter": f"name = '{name}'"}
            if token:
                body["page_token"] = token
            data = self.http.json("POST", f"{API}/logged-models/search", body=body)
            for m in _list(data.get("models"), "models"):
                info = _obj(_obj(m, "logged model").get("info"), "logged model info")
                if _str(info, "source_run_id") == run_id:
                    return LoggedModel(model_id=_str(info, "model_id"), name=_str(info, "name"),
                                       source_run_id=run_id,
                                       artifact_location=_str(info, "artifact_uri"))
            token = _str(data, "next_page_token", None)
            if not token:
                return None
        raise RestError(f"too many logged models named {name!r} to search")

    def _repo(self, artifact_uri: str) -> _ProxiedArtifacts | None:
        root = _proxied_root(artifact_uri, self.http)
        return _ProxiedArtifacts(self.http, root) if root is not None else None

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        """`MlflowClient.list_artifacts`: the run's own entries under `path`, then (for a path)
        those of the run's logged model named by its first component."""
        repo = self._repo(self._run_info(run_id).artifact_uri)
        if repo is None:
            import mlflow.artifacts

            return mlflow.artifacts.list_artifacts(run_id=run_id, artifact_path=path,
                                                   tracking_uri=self.tracking_uri)
        listed = repo.list(path)
        if not path:
            return listed
        model_name, _, rel = path.partition("/")
        model = self._logged_model(run_id, model_name)
        if model is None:
            return listed
        mrepo = self._repo(model.artifact_location)
        if mrepo is None:
            import mlflow.artifacts

            extra = mlflow.artifacts.list_artifacts(artifact_uri=model.artifact_location
                                                    + (f"/{rel}" if rel else ""),
                                                    tracking_uri=self.tracking_uri)
        else:
            extra = mrepo.list(rel or None)
        return listed + [FileInfo(path=f"{model_name}/{a.path}", is_dir=a.is_dir,
                                  file_size=a.file_size)
                         for a in extra]

    def download_artifact(self, run_id: str, path: str, dst: str) -> str:
        """`mlflow.artifacts.download_artifacts(run_id=, artifact_path=, dst_path=)`: the run's
        file or folder, overlaid with the logged model's of the same name; the local path."""
        repo = self._repo(self._run_info(run_id).artifact_uri)
        if repo is None:
            import mlflow.artifacts

            return mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path,
                                                       dst_path=dst,
                                                       tracking_uri=self.tracking_uri)
        Path(dst).mkdir(parents=True, exist_ok=True)
        out = None
        first_error: Exception | None = None
        try:
            out = repo.download(path, dst)
        except Exception as exc:
            first_error = exc
        model_name, _, rel = path.partition("/")
        try:  # as MLflow's runs:/ repository: a failing model lookup leaves the run's files
            model_out = self._download_model(run_id, model_name, rel, dst)
            out = out or model_out  # MLflow returns the run's path when it has one
        except Exception as exc:
            first_error = first_error or exc
        if out is None:
            detail = f" ({first_error})" if first_error else ""
            raise RestError(f"Failed to download artifacts from path {path!r}, please ensure "
                            f"that the path is correct{detail}",
                            error_code="RESOURCE_DOES_NOT_EXIST")
        return out

    def _download_model(self, run_id: str, model_name: str, rel: str, dst: str) -> str | None:
        model = self._logged_model(run_id, model_name) if model_name else None
        if model is None:
            return None
        mdst = os.path.join(dst, model_name)
        os.makedirs(mdst, exist_ok=True)
        mrepo = self._repo(model.artifact_location)
        if mrepo is not None:
            out = mrepo.download(rel, mdst)
            if os.path.isdir(out) and "MLmodel" in os.listdir(out):
                # as MLflow's models:/ repository marks a downloaded model (no registry name)
                Path(out, "registered_model_meta").write_text(
                    "model_name: null\nmodel_version: null\n", encoding="utf-8")
            return out
        import mlflow.artifacts

        return mlflow.artifacts.download_artifacts(
            artifact_uri=model.artifact_location + (f"/{rel}" if rel else ""), dst_path=mdst,
            tracking_uri=self.tracking_uri)

    def store_for(self, run_id: str) -> RestRunArtifacts:
        """The run's artifact store for `Evidence.attach_files` (downloads through here)."""
        return RestRunArtifacts(run_id, self)


class RestRunArtifacts(CachedRunArtifacts):
    """A run's artifacts read through `MlflowRestClient` (each downloaded once, on first use)."""

    def __init__(self, run_id: str, client: MlflowRestClient) -> None:
        super().__init__(run_id)
        self.client = client

    def _download(self, path: str, dst: str) -> str:
        return self.client.download_artifact(self.run_id, path, dst)
