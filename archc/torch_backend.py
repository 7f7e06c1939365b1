"""The live model is the generated module, executed (like ``torch.fx.GraphModule.recompile``):
generate the audited source, compile it under a pseudo-filename registered with ``linecache``
(tracebacks, ``inspect.getsource`` and TorchScript read the real lines), run it in a fresh
module registered in ``sys.modules`` (pickle and ``copy`` find its classes), and call the
factory, as a user of the written file would."""

from __future__ import annotations

import gc
import hashlib
import linecache
import sys
import types

from torch import nn

from .codegen import factory_name, generate_source
from .codegen.audit import audit_source
from .ir.shapes import Model

# sha256 of a source -> its module: building a spec again reuses its program, so a loop of
# builds holds one module per distinct source, not one per call.
_PROGRAMS: dict[str, types.ModuleType] = {}


def load_program(source: str, stem: str) -> types.ModuleType:
    """Execute generated ``source`` as a module named after ``stem`` and the source's hash.
    The source passes the allow-list audit here, right before it runs, whoever produced it
    (``generate_source`` audits it too, before anything is written)."""
    digest = hashlib.sha256(source.encode()).hexdigest()
    module = _PROGRAMS.get(digest)
    if module is not None:
        return module
    audit_source(source)  # the only exec in archc runs nothing the audit has not passed
    filename = f"<archc:{stem}:{digest[:12]}>"
    # mtime None: linecache.checkcache keeps the entry although no such file exists
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    module = types.ModuleType(f"archc_program_{stem}_{digest[:12]}")
    module.__file__ = filename  # inspect finds a class's source through its module's file
    sys.modules[module.__name__] = module
    try:
        exec(compile(source, filename, "exec"), module.__dict__)  # the audited text, nothing else
    except BaseException:
        del sys.modules[module.__name__]
        raise
    _PROGRAMS[digest] = module
    return module


def build_module(model: Model, overrides: list[str] | None = None, features: bool = False,
                 **kwargs) -> nn.Module:
    """The model the spec's generated module builds: ``factory(**kwargs)`` (``features``: the
    backbone's factory, returning the feature maps)."""
    # Generation and construction allocate many short-lived objects (syntax trees, module
    # and parameter objects); with torch imported, a full collection they set off walks every
    # object torch holds too (~0.1 s). Reference counting frees what they drop; a cycle among
    # them waits for the next collection after this, like any other.
    enabled = gc.isenabled()
    gc.disable()
    try:
        source = generate_source(model, overrides, features=features)
        stem = factory_name(model.checked.path)
        factory = stem + ("_features" if features else "")
        return getattr(load_program(source, factory), factory)(**kwargs)
    finally:
        if enabled:
            gc.enable()
