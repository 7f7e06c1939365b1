"""Channel split: a row takes one piece of its input's channels (ShuffleNetV2's x1, x2)."""

from __future__ import annotations

import ast

from .base import CHW, Call, Param, Primitive, ShapeError
from .conv import fmt


def channel_map(shape, op: str) -> int:
    """The channels of a (C, H, W) input; the one place a split checks its input's layout."""
    if len(shape) != 3:
        raise ShapeError(f"{op} needs a (C, H, W) map to split its channels, got {fmt(shape)}")
    return shape[0]


class Split(Primitive):
    op = "split"
    doc = ("One piece of a channel split: 'chunks' equal pieces (x.chunk(chunks, dim=1)) or "
           "pieces of the given 'sizes' (x.split(sizes, dim=1)); 'take' picks the piece. A "
           "channel slice x[:, a:b] is sizes [a, b - a, C - b], take 1.")
    keeps_channels = False
    expects = (CHW,)
    # A split runs as a function wherever a forward() can call one, named or not (as
    # torchvision's x.chunk); inside an nn.Sequential it is the ChannelSplit helper module.
    has_module = False
    params = (
        Param("chunks", default=None, doc="number of equal pieces (must divide the channels)",
              minimum=1),
        Param("sizes", "ints", default=None, doc="channels of each piece (sum: the channels)"),
        Param("take", doc="index of the piece this row outputs (from 0)", minimum=0),
    )

    @staticmethod
    def pieces(args: dict, channels: int) -> list[int]:
        """The pieces' channels, or a ShapeError saying why the split is impossible."""
        chunks, sizes = args["chunks"], args["sizes"]
        if (chunks is None) == (sizes is None):
            raise ShapeError("split takes exactly one of 'chunks' (equal pieces) and 'sizes'")
        if sizes is None:
            if channels % chunks:
                raise ShapeError(f"split into {chunks} chunks needs channels divisible by "
                                 f"{chunks}, got {channels} (use 'sizes' for uneven pieces)")
            return [channels // chunks] * chunks
        if any(s < 1 for s in sizes) or sum(sizes) != channels:
            raise ShapeError(f"split sizes {list(sizes)} must be positive and sum to the "
                             f"input's {channels} channels")
        return list(sizes)

    def infer(self, args, shapes):
        (shape,) = shapes
        pieces = self.pieces(args, channel_map(shape, self.op))
        if args["take"] >= len(pieces):
            raise ShapeError(f"split take={args['take']} is out of range: there are "
                             f"{len(pieces)} pieces (0 to {len(pieces) - 1})")
        return (pieces[args["take"]], *shape[1:]), 0, 0

    def out_channels(self, args, in_channels):
        if args["sizes"] == "None":
            return None if in_channels is None else f"({in_channels}) // ({args['chunks']})"
        sizes, take = ast.literal_eval(args["sizes"]), args["take"]
        if not take.isdigit() or int(take) >= len(sizes):
            return None  # the piece is known only from shapes
        size = sizes[int(take)]
        return f"({size})" if isinstance(size, str) else str(size)

    def source(self, args, in_channels, shape):
        pieces = args["chunks"] if args["sizes"].known and args["sizes"].value is None \
            else args["sizes"]
        return Call("ChannelSplit", [str(pieces), str(args["take"])])

    def call_source(self, args, inputs):
        if args["sizes"].known and args["sizes"].value is None:
            return f"{inputs[0]}.chunk({args['chunks']}, dim=1)[{args['take']}]"
        return f"{inputs[0]}.split({args['sizes']}, dim=1)[{args['take']}]"
