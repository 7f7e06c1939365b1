"""Weight loading for generated modules. ``_load_weights`` is copied verbatim into every
generated module (its factory's ``weights=`` argument calls it) and recognised there by the audit
as archc's own code; it imports only torch and the standard library. Keep it formatted as ruff
formats generated code (88 columns)."""

from __future__ import annotations

import warnings

import torch
from torch import nn


def _load_weights(
    model: nn.Module, weights: str, table: dict, progress: bool, backbone: bool = False
) -> None:
    """Load published weights by name (downloaded through torch.hub into its cache, checked
    against the hash in the file name) or a local state_dict file, strictly. A classifier
    whose number of classes differs from the checkpoint's is left freshly initialised; a
    backbone takes every tensor it has from the whole model's checkpoint."""
    if isinstance(weights, str) and weights in table:
        state = torch.hub.load_state_dict_from_url(
            table[weights]["url"],
            progress=progress,
            check_hash=True,
            map_location="cpu",
            weights_only=True,
        )
    elif isinstance(weights, str) and weights.isidentifier():
        known = ", ".join(table) or "none"
        raise ValueError(
            f"unknown weights {weights!r} for {type(model).__name__}: published are "
            f"{known}; a local state_dict file is passed as a path"
        )
    else:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    own = model.state_dict()
    if backbone:
        state = {k: v for k, v in state.items() if k in own}
    head = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    classes = {(state[k].shape[0], own[k].shape[0]) for k in head}
    if (
        head
        and len(classes) == 1
        and all(own[k].shape[1:] == state[k].shape[1:] for k in head)
    ):
        # Only the number of classes differs (fine-tuning): keep the fresh classifier.
        theirs, ours = next(iter(classes))
        warnings.warn(
            f"{type(model).__name__}: the checkpoint has {theirs} classes, the model "
            f"{ours}; {', '.join(head)} left freshly initialised, all else loaded",
            stacklevel=3,
        )
        state = {**state, **{k: own[k] for k in head}}
    model.load_state_dict(state)
