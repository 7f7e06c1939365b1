"""The model registry, like timm's: the committed specs by name, in a checkout and in an
installed wheel (they are package data: ``archc/specs`` links to the checkout's ``specs/`` and
is copied into the wheel). Listing and resolving names never imports torch."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

_NAME = re.compile(r"[a-z0-9_]+")


def spec_dir() -> Path:
    """The folder of the committed specs (the checkout's ``specs/`` or the wheel's copy)."""
    return (Path(__file__).parent.parent / "specs").resolve()


def list_models(pattern: str = "*") -> list[str]:
    """Names of the registered models matching a shell-style ``pattern``, sorted
    (``list_models("resnet*")``)."""
    names = (p.stem for p in spec_dir().glob("*.yaml") if p.is_file())
    return sorted(n for n in names if fnmatch.fnmatchcase(n, pattern))


def model_spec(name: str) -> Path:
    """The spec file of a registered model; ValueError naming close matches otherwise."""
    path = spec_dir() / f"{name}.yaml"
    if not _NAME.fullmatch(name) or not path.is_file():
        from ..expr import did_you_mean

        hint = did_you_mean(name, list_models()) or "archc.list_models() lists them"
        raise ValueError(f"no registered model {name!r}; {hint}")
    return path


def resolve(spec: str) -> str:
    """A command-line SPEC: the path as given when it exists or looks like a path, else the
    registered model of that name (``archc build mobilenet_v2``)."""
    if Path(spec).exists() or not _NAME.fullmatch(spec) or spec not in list_models():
        return spec
    return str(model_spec(spec))


def create_model(name: str, *, weights: str | None = None, features_only: bool = False,
                 progress: bool = True, **kwargs):
    """A registered model (imports torch): ``create_model("mobilenet_v2", num_classes=10,
    weights="IMAGENET1K_V1")``. ``kwargs`` are the spec's params (``num_classes``,
    ``dropout``, ...); ``weights`` names a checkpoint the spec lists, or a local state_dict file;
    ``features_only`` builds the backbone, returning the feature maps."""
    from ..api import compile_spec
    from ..torch_backend import build_module

    return build_module(compile_spec(str(model_spec(name))), features=features_only,
                        weights=weights, progress=progress, **kwargs)
