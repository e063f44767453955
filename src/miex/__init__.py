"""miex: synthesize MiE-X micro-expression datasets and train recognizers on them, from Python.

The same steps as the ``miex`` command line, in the order data flows (docs/reference.md §Python API)::

    import miex

    clips = miex.read_corpus("casme2", "CASME2/")                 # real clips -> clip table (DataFrame)
    pool, report = miex.build_face_pool("photos/", "pool/")        # aligned identity pool + index.parquet
    aus, report = miex.extract_aus("clips.parquet", "aus.parquet")  # onset/apex AUs of the real clips
    summary = miex.synthesize(out="miex", expert=100)              # MiE-X shards + card (default: embedded faces)
    ds = miex.load("miex")                                         # datasets.Dataset (shards checked by receipt)
    result = miex.train_recognizer(ds, test, model="branches", epochs=1)
    print(result.scores)                                           # {"uf1": ..., "uar": ...}
    miex.push("miex", "org/miex")

Names resolve on first use, so ``import miex`` stays fast and pulls in torch, mediapipe or datasets only when a
step that needs them runs; ``help(miex)`` reads ``train_recognizer``'s signature and docstring from its source, so
it never loads the model stack either.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from miex.core import __version__, lazy  # one version for the distribution

_EXPORTS: dict[str, str] = {
    # corpora -> clip tables
    "read_corpus": "miex.data.steps:read_corpus",
    # faces and AUs
    "build_face_pool": "miex.data.faces.pool:build_face_pool",
    "extract_aus": "miex.data.steps:extract_aus",
    # AU sources -> plan
    "PoolConfig": "miex.data.sources:PoolConfig",
    "build_au_pool": "miex.data.steps:build_au_pool",
    "PlanConfig": "miex.data.plan:PlanConfig",
    "build_plan": "miex.data.steps:build_plan",
    # generators and synthesis
    "load_generator": "miex.data.generators:load_generator",
    "SynthesisConfig": "miex.data.synthesis.config:SynthesisConfig",
    "OutputOptions": "miex.data.synthesis.config:OutputOptions",
    "synthesize": "miex.data.synthesis.api:synthesize",
    "synthesize_dataset": "miex.data.synthesis.api:synthesize_dataset",
    "load": "miex.data.steps:load",
    "magnify_pair": "miex.data.magnify:magnify_pair",
    "Magnification": "miex.data.magnify:Magnification",
    # recognizers
    "train_recognizer": "miex.train.api:train_recognizer",
    "TrainResult": "miex.train.train_result:TrainResult",
    "uf1_uar": "miex.train.metrics.scores:uf1_uar",
    # the Hub
    "push": "miex.data.hub:push_folder",
}

__all__ = [
    "Magnification",
    "OutputOptions",
    "PlanConfig",
    "PoolConfig",
    "SynthesisConfig",
    "TrainResult",
    "__version__",
    "build_au_pool",
    "build_face_pool",
    "build_plan",
    "extract_aus",
    "load",
    "load_generator",
    "magnify_pair",
    "push",
    "read_corpus",
    "synthesize",
    "synthesize_dataset",
    "train_recognizer",
    "uf1_uar",
]
"""The public API; every name but the version resolves through ``_EXPORTS`` on first use."""

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from miex.data.faces.pool import build_face_pool
    from miex.data.generators import load_generator
    from miex.data.hub import push_folder as push
    from miex.data.magnify import Magnification, magnify_pair
    from miex.data.plan import PlanConfig
    from miex.data.sources import PoolConfig
    from miex.data.steps import build_au_pool, build_plan, extract_aus, load, read_corpus
    from miex.data.synthesis.api import synthesize, synthesize_dataset
    from miex.data.synthesis.config import OutputOptions, SynthesisConfig
    from miex.train.api import train_recognizer
    from miex.train.metrics.scores import uf1_uar
    from miex.train.train_result import TrainResult


_DEFERRED = frozenset({"train_recognizer"})
"""Functions whose module imports torch, transformers and datasets at the top: ``miex.NAME`` is a function with the
same name, signature and docstring (read from the source) that imports the module on its first call, so ``help(miex)``
and tab completion stay instant."""


class _Default:
    """A default value that is not a literal, shown as its source text."""

    def __init__(self, source: str) -> None:
        self.source = source

    def __repr__(self) -> str:
        return self.source


def _parameter(argument: ast.arg, kind: Any, default: ast.expr | None) -> inspect.Parameter:
    value: Any = inspect.Parameter.empty
    if default is not None:
        try:
            value = ast.literal_eval(default)
        except ValueError:
            value = _Default(ast.unparse(default))
    annotation = ast.unparse(argument.annotation) if argument.annotation is not None else inspect.Parameter.empty
    return inspect.Parameter(argument.arg, kind, default=value, annotation=annotation)


def _signature(node: ast.FunctionDef) -> inspect.Signature:
    """The signature a function defined as ``node`` has (annotations as source text, as ``from __future__ import
    annotations`` stores them)."""
    args, kind = node.args, inspect.Parameter
    positional = [*args.posonlyargs, *args.args]
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    parameters = [
        _parameter(a, kind.POSITIONAL_ONLY if i < len(args.posonlyargs) else kind.POSITIONAL_OR_KEYWORD, d)
        for i, (a, d) in enumerate(zip(positional, defaults, strict=True))
    ]
    if args.vararg is not None:
        parameters.append(_parameter(args.vararg, kind.VAR_POSITIONAL, None))
    parameters += [_parameter(a, kind.KEYWORD_ONLY, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)]
    if args.kwarg is not None:
        parameters.append(_parameter(args.kwarg, kind.VAR_KEYWORD, None))
    returns = ast.unparse(node.returns) if node.returns is not None else inspect.Signature.empty
    return inspect.Signature(parameters, return_annotation=returns)


def _definition(module: str, name: str) -> ast.FunctionDef | None:
    """The top-level ``def name`` of ``module``'s source, found without importing ``module`` (``None``: no source)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    return next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name), None)


def _deferred(module: str, name: str) -> Callable[..., Any] | None:
    """``module.name`` as a function that imports ``module`` on its first call (``None``: its source is not there)."""
    node = _definition(module, name)
    if node is None:
        return None

    def call(*args: Any, **kwargs: Any) -> Any:
        return lazy.load(f"{module}:{name}")(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__module__ = __name__  # pickled as miex.NAME, which is this function
    call.__doc__ = ast.get_docstring(node, clean=False)
    call.__signature__ = _signature(node)  # type: ignore[attr-defined]  # what inspect.signature and help() show
    return call


_load_export, _ = lazy.attach(__name__, _EXPORTS)


def __getattr__(name: str) -> Any:
    value = _deferred(*_EXPORTS[name].split(":")) if name in _DEFERRED else None
    if value is None:
        return _load_export(name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:  # the API only: what tab completion offers
    return sorted(__all__)
