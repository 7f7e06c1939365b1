"""A learnable tensor held by the model (nn.Parameter): ConvNeXt's layer scale, ViT's class
token and position embedding. Its row's value is the tensor, used by mul/add/concat rows."""

from __future__ import annotations

import math

from ..codegen_literals import literal
from .base import Call, Param, Primitive, ShapeError, default_layout, list_items
from .conv import fmt


class Parameter(Primitive):
    op = "param"
    doc = ("A learnable tensor (nn.Parameter) of the stated shape, as the state_dict stores it; "
           "a leading 1 is the batch dimension (broadcast, or repeated with expand). Its value "
           "is the row's output; the row's input only gives the batch size for expand.")
    has_weights = True
    layout_aware = True
    in_sequential = False
    call_columns = ("expand",)  # forward repeats the token over the batch when it is set
    params = (
        Param("shape", "ints", doc="the tensor's shape, e.g. [c, 1, 1] (a per-channel scale) "
              "or [1, 1, d] (a token)", minimum=1),
        Param("fill", "str", default="zeros", choices=("zeros", "ones", "constant", "normal",
                                                        "trunc_normal"),
              doc="initial values: zeros, ones, constant (value), normal or trunc_normal "
                  "(std, mean 0; trunc_normal cut at -2 and 2 as nn.init)"),
        Param("value", "float", default=0.0, doc="the constant for fill: constant"),
        Param("std", "float", default=1.0, doc="standard deviation for normal/trunc_normal",
              minimum=0.0),
        Param("expand", "bool", default=False, doc="repeat the leading 1 over the batch of the "
              "row's input (a class token concatenated with tokens)"),
    )

    def infer(self, args, shapes, layouts):
        shape = tuple(args["shape"])
        if math.prod(shape) > 2**31:
            raise ShapeError(f"a parameter of shape {list(shape)} is too large")
        batched = len(shape) > 1 and shape[0] == 1
        if args["expand"] and not batched:
            raise ShapeError(f"expand repeats a leading batch dimension of 1: shape "
                             f"{list(shape)} has none")
        out = shape[1:] if batched else shape
        return out, math.prod(shape), 0

    def out_layout(self, args, layouts, shapes):
        shape = tuple(args["shape"])
        out = shape[1:] if len(shape) > 1 and shape[0] == 1 else shape
        if layouts and shapes and len(shapes[0]) == len(out):
            return layouts[0]
        return default_layout(out)

    def source(self, args, in_channels, shape, layout=None):
        dims = ", ".join(list_items(args["shape"]))
        spelled = {
            "zeros": f"torch.zeros({dims})",
            "ones": f"torch.ones({dims})",
            "constant": f"torch.full(({dims},), {args['value']})" if "," not in dims
            else f"torch.full(({dims}), {args['value']})",
            "normal": f"torch.empty({dims}).normal_(std={args['std']})",
            "trunc_normal": f"nn.init.trunc_normal_(torch.empty({dims}), std={args['std']})",
        }
        init = args["fill"]
        if init.known:
            return Call("nn.Parameter", [spelled[init.value]])
        # a block parameter names the scheme: one class serves all of them
        *first, last = list(spelled.items())
        chain = " else ".join(f"{src} if {init} == {literal(name)}" for name, src in first)
        return Call("nn.Parameter", [f"{chain} else {last[1]}"])

    def module_call(self, attr, args, inputs):
        if not args["shape"].known:
            rank = len(list_items(args["shape"]))
        else:
            rank = len(args["shape"].value)
        expanded = f"{attr}.expand({inputs[0]}.shape[0]{', -1' * (rank - 1)})"
        if args["expand"].known:
            return expanded if args["expand"].value else attr
        return f"({expanded} if {args['expand']} else {attr})"


__all__ = ["Parameter", "fmt"]
