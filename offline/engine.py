"""The offline engine: run ``__main__.py`` under the Pulumi SDK's mocks, exactly as the CLI runs it.

The Pulumi CLI's Python executor sets the stack config (``set_all_config`` with fully qualified keys),
configures the runtime and runs ``runpy.run_path(<program dir>, run_name="__main__")`` inside
``run_in_stack``. This module does the same with a recording mock monitor instead of the engine, so no
CLI, network or credentials are needed. The stack file is loaded the way the CLI loads it (project
namespace for bare keys, provider keys kept, structured values as JSON, ``secure:`` values secret).

Unit tests use the same harness (:func:`render_stack`, :func:`render_config`, :func:`run_under_mocks`),
so what users see offline is what the tests prove.
"""

from __future__ import annotations

import asyncio
import json
import logging
import runpy
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pulumi.runtime
from google.protobuf import empty_pb2, json_format
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockCallArgs, MockEngine, MockMonitor, MockResourceArgs, Mocks, MockSettings
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.settings import ROOT, SETTINGS, configure
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _sync_await

from components.keypath import key_path, leaves
from components.outputs import RENDER_FILES
from components.project import PROJECT_DIR
from components.secrets.resolver import UNDECRYPTABLE, ClientFactory, ResolutionMode, set_resolution_mode
from offline.declarations import UNSET, Declaration, apply_project_config, project_declarations
from offline.stackfile import StackFileError, load_project_file, load_stack_config_file, qualified

SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
SPECIAL_SIG_KEY = "4dabf18193072939515e22adb298388d"
RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
REDACTED = "[secret]"


class RenderError(Exception):
    """The stack could not be rendered (bad stack file, or the program failed)."""


@dataclass(frozen=True)
class Secret:
    """A value the program marked secret (``Output.secret``)."""

    value: Any

    def __repr__(self) -> str:
        return "Secret([redacted])"


@dataclass
class RegisteredResource:
    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    inputs: dict[str, Any]
    protect: bool
    retain_on_delete: bool
    options: dict[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)

    def redacted_inputs(self) -> dict[str, Any]:
        return redact(self.inputs)


@dataclass
class Render:
    stack: str
    project: str
    resources: list[RegisteredResource]
    stack_outputs: dict[str, Any]
    warnings: list[str]
    seconds: float
    placeholders: bool
    resolved_secrets: set[str] = field(default_factory=set, repr=False)
    reads: list[tuple[str, str]] = field(default_factory=list)  # (type, id) of every Resource.get

    def render_files(self) -> dict[str, str]:
        """Files components publish for review (``renderFiles`` outputs), by relative path."""
        files: dict[str, str] = {}
        for r in self.resources:
            for path, text in (r.outputs.get(RENDER_FILES) or {}).items():
                if isinstance(text, Secret):
                    raise RenderError(f"{r.type} {r.name} published {path} as a secret; render files must be redacted")
                files[path] = text
        return files


# ------------------------------------------------------------------------------------------- values
def _decode(value: Any) -> Any:
    """Turn a deserialized protobuf Struct into plain values, keeping secrets as :class:`Secret`."""
    if isinstance(value, dict):
        sig = value.get(SPECIAL_SIG_KEY)
        if sig == SECRET_SIG:
            return Secret(_decode(value.get("value")))
        if sig == RESOURCE_SIG:
            return {"$resource": value.get("urn")}
        return {k: _decode(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value == UNKNOWN:
        return "[unknown]"
    return value


def redact(value: Any) -> Any:
    if isinstance(value, Secret):
        return REDACTED
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def reveal(value: Any) -> Any:
    """The value with secret markers removed (for tests that inspect what a provider would receive)."""
    if isinstance(value, Secret):
        return reveal(value.value)
    if isinstance(value, dict):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    return value


def iter_secrets(value: Any) -> Iterator[Secret]:
    if isinstance(value, Secret):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from iter_secrets(v)
    elif isinstance(value, list):
        for v in value:
            yield from iter_secrets(v)


def iter_plain_strings(value: Any) -> Iterator[tuple[str, str]]:
    """Every string not inside a secret marker, with its path."""
    for parts, leaf in leaves(value):
        if isinstance(leaf, str):  # a Secret is a leaf of its own, never a string: skipped with its contents
            yield key_path(parts), leaf


# ------------------------------------------------------------------------------------------- mocks
class _ProviderMocks(Mocks):
    """Providers echo their inputs as outputs, like a successful create with no computed fields."""

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict]:
        state = dict(args.inputs)
        if args.typ == "command:remote:Command":
            state.setdefault("stdout", "")
            state.setdefault("stderr", "")
        return f"{args.name}-id", state

    def call(self, args: MockCallArgs) -> tuple[dict, None]:
        return {}, None


class LiveReader(Protocol):
    """What serves the program's reads (``Resource.get``) offline: the live object's state, or None when
    it does not exist (a test's stand-in for the cluster; see tests/support/pulumi_engine.py)."""

    def read(self, type_: str, id_: str) -> Mapping[str, Any] | None: ...


class _RecordingMonitor(MockMonitor):
    """Records registrations and reads. A read is served by ``live`` when given (a missing object fails
    with the engine's own message, pkg/resource/deploy/step.go ``ReadStep``: "resource '<id>' does not
    exist"); without it (``pg-dr render``: no cluster) the SDK's mock echoes the read's inputs, which
    carry no ``metadata``, and the program's live checks have nothing to compare."""

    def __init__(self, mocks: Mocks):
        super().__init__(mocks)
        self.recorded: list[RegisteredResource] = []
        self.outputs: dict[str, dict[str, Any]] = {}
        self.live: LiveReader | None = None
        self.reads: list[tuple[str, str]] = []

    # The SDK's MockMonitor gives each RPC worker thread an event loop (sync_await._ensure_event_loop) and
    # never closes it; one left for the garbage collector at interpreter exit printed "Exception ignored in
    # BaseEventLoop.__del__ ... Invalid file descriptor: -1" after about one render in five. Each call made
    # off the program's loop gets its own loop here, closed and unset when the call returns.
    def Invoke(self, request: Any) -> Any:
        return _on_own_loop(super().Invoke, request)

    def ReadResource(self, request: Any) -> Any:
        self.reads.append((request.type, request.id))
        if self.live is None:
            return _on_own_loop(super().ReadResource, request)
        return _on_own_loop(self._read_live, request)

    def _read_live(self, request: Any) -> Any:
        assert self.live is not None
        state = self.live.read(request.type, request.id)
        if state is None:
            raise RenderError(f"resource '{request.id}' does not exist")
        urn = self.make_urn(request.parent, request.type, request.name)
        props = _sync_await(rpc.serialize_properties(dict(state), {}))
        self.resources[urn] = MockMonitor.ResourceRegistration(urn, request.id, dict(state))
        return resource_pb2.ReadResourceResponse(urn=urn, properties=props)

    def RegisterResource(self, request: Any) -> Any:
        response = _on_own_loop(super().RegisterResource, request)
        if request.type != "pulumi:pulumi:Stack":
            self.recorded.append(
                RegisteredResource(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    parent=request.parent or None,
                    custom=bool(request.custom),
                    dependencies=list(request.dependencies),
                    property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
                    inputs=_decode(json_format.MessageToDict(request.object)),
                    protect=bool(request.protect) if request.HasField("protect") else False,
                    retain_on_delete=bool(request.retainOnDelete) if request.HasField("retainOnDelete") else False,
                    options={
                        "deleteBeforeReplace": bool(request.deleteBeforeReplace),
                        "ignoreChanges": list(request.ignoreChanges),
                        "replaceOnChanges": list(request.replaceOnChanges),
                        "additionalSecretOutputs": list(request.additionalSecretOutputs),
                        "aliases": [json_format.MessageToDict(a) for a in request.aliases],
                        "provider": request.provider or None,
                        "importId": request.importId or None,
                    },
                )
            )
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:
        self.outputs[request.urn] = _decode(json_format.MessageToDict(request.outputs))
        return empty_pb2.Empty()


def _on_own_loop(call: Callable[[Any], Any], request: Any) -> Any:
    """``call(request)`` with a fresh event loop set for this thread, closed afterwards (see _RecordingMonitor)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        return call(request)  # on the program's own loop, which run_under_mocks closes
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return call(request)
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def _cancel_pending(loop: asyncio.AbstractEventLoop) -> None:
    """A program that failed inside an ``apply`` (a live check) leaves its other outputs and RPCs pending,
    and the runtime's settings keep them (and the failure) across ``configure``: they are cancelled and
    forgotten, so nothing of this run waits on, or fails, in the next one."""
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    SETTINGS.outputs = set()
    SETTINGS.rpc_manager.clear()


class _CollectingHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            self.messages.append(record.getMessage())


# ------------------------------------------------------------------------------------- stack files
def _config_value(value: Any) -> tuple[str, bool]:
    """A stack-file config value as the CLI passes it to the program: a string, and whether it is secret.

    Objects travel as Go's ``json.Marshal`` writes them (keys sorted, whole floats without a fraction),
    with every ``secure:`` value replaced by what the CLI would decrypt (offline: a placeholder).
    """
    if isinstance(value, Mapping) and set(value) == {"secure"}:
        return UNDECRYPTABLE, True
    secret = _has_secure(value)
    if isinstance(value, bool):
        return ("true" if value else "false"), False
    if isinstance(value, (Mapping, list)):
        return json.dumps(_go_json(value), separators=(",", ":"), sort_keys=True, allow_nan=False), secret
    if isinstance(value, float):
        return json.dumps(_go_json(value), allow_nan=False), False
    return ("" if value is None else str(value)), False


def _has_secure(value: Any) -> bool:
    if isinstance(value, Mapping):
        return set(value) == {"secure"} or any(_has_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_secure(v) for v in value)
    return False


def _go_json(value: Any) -> Any:
    """``value`` with secure values replaced, and floats as Go's JSON writes them (``22.0`` is ``22``)."""
    if isinstance(value, Mapping):
        if set(value) == {"secure"}:
            return UNDECRYPTABLE
        return {_go_key(k): _go_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_go_json(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    return value


def _go_key(key: Any) -> str:
    """A mapping key as JSON text (``2024: 5`` under expectedCounts is the key "2024")."""
    if isinstance(key, bool):
        return "true" if key else "false"
    return "null" if key is None else str(key)


def _project(project_dir: Path) -> tuple[str, dict[str, Declaration]]:
    try:
        project = load_project_file(project_dir / "Pulumi.yaml")
        return str(project["name"]), project_declarations(project)
    except StackFileError as exc:
        raise RenderError(str(exc)) from None


def load_project(project_dir: Path) -> tuple[str, dict[str, Any]]:
    """The project name and its project-level config defaults (and values) from ``Pulumi.yaml``."""
    name, declarations = _project(project_dir)
    return name, {key: decl.fallback for key, decl in declarations.items() if decl.fallback is not UNSET}


def project_config(project_dir: Path, config: Mapping[str, Any], stack: str) -> tuple[str, dict[str, Any]]:
    """The project name and the stack config as ``pulumi up`` runs it: declared types checked, defaults applied."""
    name, declarations = _project(project_dir)
    try:
        return name, apply_project_config(config, declarations, name, f"Pulumi.{stack}.yaml")
    except StackFileError as exc:
        raise RenderError(str(exc)) from None


def qualify_config(project: str, raw: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
    """Fully qualified config keys and values as the CLI hands them to the program, plus the secret keys."""
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    try:
        full_keys = qualified(project, raw)
    except StackFileError as exc:
        raise RenderError(str(exc)) from None
    for full, value in full_keys.items():
        try:
            config[full], secret = _config_value(value)
        except ValueError:  # inf/nan: Go's JSON has no such number and the CLI refuses it
            raise RenderError(f"{full}: .inf and .nan are not numbers the Pulumi CLI can pass") from None
        if secret:
            secret_keys.append(full)
    return config, secret_keys


def load_stack_file(project_dir: Path, stack: str) -> dict[str, Any]:
    """The ``config:`` mapping of ``Pulumi.<stack>.yaml``, read as the CLI reads it (:mod:`offline.stackfile`)."""
    path = project_dir / f"Pulumi.{stack}.yaml"
    try:
        return load_stack_config_file(path)
    except StackFileError as exc:
        if path.exists() or path.is_symlink():
            raise RenderError(str(exc)) from None
        existing = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))
        stacks = f"the stacks here: {', '.join(existing)}" if existing else "no stack file here yet"
        raise RenderError(
            f"{exc} ({stacks}; `pulumi stack init {stack}` and a Pulumi.{stack}.yaml create one)"
        ) from None


# ----------------------------------------------------------------------------------------- running
def render_config(
    config: Mapping[str, Any],
    *,
    stack: str = "test",
    project_dir: Path | None = None,
    resolve_secrets: bool = False,
    onepassword_client: ClientFactory | None = None,
    environ: Mapping[str, str] | None = None,
    live: LiveReader | None = None,
) -> Render:
    """Run the program under mocks with an in-memory stack config (the ``config:`` mapping of a stack file);
    ``live`` serves the program's reads of live objects (none: ``pg-dr render``, no cluster)."""
    project_dir = (project_dir or PROJECT_DIR).resolve()
    project, merged = project_config(project_dir, config, stack)
    full_config, secret_keys = qualify_config(project, merged)
    resolved: set[str] = set()
    mode = ResolutionMode(
        placeholders=not resolve_secrets,
        offline=True,
        client_factory=onepassword_client,
        environ=environ,
        on_resolved=resolved.update,
    )
    program = lambda: runpy.run_path(str(project_dir), run_name="__main__")  # noqa: E731 - as the CLI runs it
    render = run_under_mocks(program, project_dir, project, stack, full_config, secret_keys, mode, live=live)
    render.resolved_secrets = resolved
    return render


def render_stack(stack: str, *, project_dir: Path | None = None, **kwargs: Any) -> Render:
    """Render ``Pulumi.<stack>.yaml`` of the project."""
    project_dir = (project_dir or PROJECT_DIR).resolve()
    return render_config(load_stack_file(project_dir, stack), stack=stack, project_dir=project_dir, **kwargs)


def run_under_mocks(
    program: Callable[[], object],
    project_dir: Path,
    project: str,
    stack: str,
    config: dict[str, str],
    secret_keys: list[str],
    mode: ResolutionMode,
    live: LiveReader | None = None,
) -> Render:
    started = time.perf_counter()
    monitor = _RecordingMonitor(_ProviderMocks())
    monitor.live = live
    handler = _CollectingHandler()
    logger = logging.getLogger(f"pg-dr.render.{stack}")
    logger.addHandler(handler)
    logger.propagate = False
    configure(
        MockSettings(
            monitor=monitor,
            monitor_features=set(monitor.GetDeploymentInfo(empty_pb2.Empty()).supportedFeatures),
            engine=MockEngine(logger),
            project=project,
            stack=stack,
            dry_run=False,
            organization="organization",
            root_directory=str(project_dir),
            callbacks=None,
        )
    )
    ROOT.set(None)
    pulumi.runtime.set_all_config(config, secret_keys)
    previous_mode = set_resolution_mode(mode)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(run_in_stack(program))
    finally:
        set_resolution_mode(previous_mode)
        _cancel_pending(loop)
        loop.close()
        logger.removeHandler(handler)
        pulumi.runtime.set_all_config({}, [])
    stack_urn = f"urn:pulumi:{stack}::{project}::pulumi:pulumi:Stack::{project}-{stack}"
    for resource in monitor.recorded:
        resource.outputs = monitor.outputs.get(resource.urn, {})
    return Render(
        stack=stack,
        project=project,
        resources=monitor.recorded,
        stack_outputs=monitor.outputs.get(stack_urn, {}),
        warnings=handler.messages,
        seconds=time.perf_counter() - started,
        placeholders=mode.placeholders,
        reads=monitor.reads,
    )
