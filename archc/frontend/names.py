"""Names a spec cannot choose, because generated code already uses them. Written out as data so
that checking a spec needs no torch; tests/test_security_names.py compares the lists with torch
and with what codegen defines.

Where a spec's names end up: row names are attributes of nn.Module subclasses (the model, block
classes, the live model's containers) and locals of ``forward``; block parameters and ``let``
values are arguments, locals and (when ``forward`` reads them) attributes of a block class; block
names become class names; the spec's file name becomes the generated module's name and its
factory function's.
"""

from __future__ import annotations

import builtins
import keyword
import re
import sys
from pathlib import Path

# Public attributes of torch.nn.Module, nn.Sequential and archc's live container (torch 2.x):
# a row with one of these names would replace a method or flag of the class. Private ones
# (_modules, _parameters, _call_impl, ...) are covered by refusing every name starting with "_".
MODULE_ATTRIBUTES = frozenset("""
    add_module apply bfloat16 buffers call_super_init children compile cpu cuda double
    dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter
    get_submodule half ipu kind load_state_dict modules mtia named_buffers named_children
    named_modules named_parameters parameters register_backward_hook register_buffer
    register_forward_hook register_forward_pre_hook register_full_backward_hook
    register_full_backward_pre_hook register_load_state_dict_post_hook
    register_load_state_dict_pre_hook register_module register_parameter
    register_state_dict_post_hook register_state_dict_pre_hook requires_grad_
    set_extra_state set_submodule share_memory state_dict to to_empty train training type
    xpu zero_grad append extend insert pop T_destination
""".split())

# Attributes archc's generated model classes define besides nn.Module's (timm's classifier and
# backbone API): a row with one of these names would replace them.
MODEL_ATTRIBUTES = frozenset({"num_classes", "forward_features", "forward_head",
                              "reset_classifier", "feature_info"})

# Classes a generated module can define or import besides the spec's own: the runtime helpers
# (archc/ops/runtime.py), the inference helper (archc/tools/inference.py) and torch's Tensor.
GENERATED_CLASSES = frozenset({"Tensor", "StochasticDepth", "ChannelShuffle", "ChannelAffine",
                               "ChannelSplit", "ChannelsLast", "LayerNorm2d", "Permute"})

# Other top-level names of a generated module: imports and helper functions.
GENERATED_GLOBALS = frozenset({
    "math", "torch", "nn", "F", "Tensor", "_make_divisible", "_activation", "_apply_activation",
    "optimize_for_inference", "_fold", "_foldable", "_identity_in_eval", "_replace",
    "channel_shuffle",  # runtime.py: the functional form of an unnamed channel_shuffle row
    "warnings", "_load_weights", "_WEIGHTS",  # published weights (archc/codegen/hub.py)
    "OrderedDict",  # a group with named children
})

# Python names the generated code uses inside a block class or the model's methods.
BLOCK_LOCALS = frozenset({"self", "x", "out", "in_channels", "layers", "super"})

# Top-level packages a user of a generated module imports beside it (a generated torch.py in a
# folder shadows torch for every script run there), besides the standard library.
PACKAGES = frozenset({
    "archc", "torch", "torchvision", "torchaudio", "timm", "numpy", "scipy", "onnx",
    "onnxruntime", "PIL", "yaml", "jinja2", "pydantic", "networkx", "hypothesis", "pytest",
    "functorch", "triton", "transformers", "pandas", "matplotlib", "sklearn", "tqdm",
    "safetensors", "huggingface_hub", "lightning", "pytorch_lightning", "tensorboard",
})

BUILTINS = frozenset(dir(builtins))
PRIVATE = "names starting with '_' are reserved (nn.Module's internals and the generated " \
    "module's helpers use them)"


def private(name: str) -> bool:
    """Names nn.Module and generated helpers keep for themselves."""
    return name.startswith("_")


def module_stem(path: str | Path) -> str:
    """The generated module's (and factory's) name for a spec file: its stem as a Python
    identifier."""
    stem = re.sub(r"[^0-9a-zA-Z_]", "_", Path(path).stem).lower() or "model"
    if stem[0].isdigit():
        stem = f"model_{stem}"
    return f"{stem}_" if keyword.iskeyword(stem) else stem


def stem_problem(path: str | Path) -> str | None:
    """Why the spec file's name cannot name a generated module, or None. The module is
    written as STEM.py (STEM_features.py, STEM_inference.py) and defines a factory STEM()."""
    stem = module_stem(path)
    for name in (stem, f"{stem}_features", f"{stem}_inference"):
        if name in sys.stdlib_module_names or name in PACKAGES or name.lower() in {
                p.lower() for p in PACKAGES}:
            return f"the spec's file name would make a module {name}.py that shadows the " \
                f"{'standard library' if name in sys.stdlib_module_names else 'package'} " \
                f"module {name!r} for scripts beside it"
        if name in GENERATED_GLOBALS or (name.startswith("__") and name.endswith("__")):
            return f"the spec's file name would make a factory {name}() that replaces a name " \
                "the generated module uses"
    return None
