"""Command line: ``archc check|build|summary``. Exit codes: 0 ok, 1 spec errors, 2 usage.
Spec problems are printed as located diagnostics, never as tracebacks."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .diagnostics import Diagnostic, SpecError, render_json, render_text
from .loader import Budget

EXIT_OK, EXIT_SPEC, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="archc", description="Compile YAML architecture specs to PyTorch modules.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(p: argparse.ArgumentParser, diag_format: bool = True) -> None:
        if diag_format:
            p.add_argument("--format", choices=("text", "json"), default="text",
                           help="diagnostics format (default: text)")
        p.add_argument("--max-bytes", type=int, default=Budget.max_bytes,
                       help="largest spec file accepted")
        p.add_argument("--max-nodes", type=int, default=Budget.max_nodes,
                       help="most YAML nodes after alias expansion")
        p.add_argument("--max-depth", type=int, default=Budget.max_depth,
                       help="deepest YAML nesting")
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       dest="overrides", help="override a spec value (bare names are params; "
                       "dotted keys reach anything, e.g. scaling.width=0.5)")

    p = sub.add_parser("check", help="validate specs and infer their shapes")
    p.add_argument("specs", nargs="+", metavar="SPEC")
    common(p)
    p = sub.add_parser("build", help="generate a PyTorch module per spec")
    p.add_argument("specs", nargs="+", metavar="SPEC")
    p.add_argument("-o", "--output", default="generated", metavar="DIR",
                   help="output directory (default: generated/)")
    p.add_argument("--features", action="store_true",
                   help="build the backbone: returns the feature maps at strides 4-32 (or the "
                   "spec's 'features:'), written as STEM_features.py")
    common(p)
    p = sub.add_parser("summary", help="rows, shapes, parameters and MACs of a spec")
    p.add_argument("spec", metavar="SPEC")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--input", metavar="CxHxW", type=_shape,
                   help="evaluate at another input size (e.g. 3x320x320)")
    common(p)
    p = sub.add_parser("diff", help="what changed between two specs, row by row")
    p.add_argument("specs", nargs=2, metavar="SPEC")
    p.add_argument("--json", action="store_true", help="print JSON")
    common(p)
    p = sub.add_parser("graph", help="draw the layer graph (dot, mermaid, json, svg)")
    p.add_argument("spec", metavar="SPEC")
    p.add_argument("--format", dest="graph_format", choices=("dot", "mermaid", "json", "svg"),
                   default="dot", help="output format (svg needs Graphviz)")
    p.add_argument("--depth", type=int, default=2, help="levels of groups and blocks to open "
                   "(0: one node per top-level row; default 2 shows skips and branches)")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    common(p, diag_format=False)
    p.set_defaults(format="text")
    p = sub.add_parser("schema", help="print the JSON Schema of the spec language")
    p = sub.add_parser("ops", help="list the ops (primitives and library blocks) and columns")
    return parser


def _shape(text: str) -> list[int]:
    try:
        dims = [int(d) for d in text.lower().split("x")]
    except ValueError:
        dims = []
    if not 1 <= len(dims) <= 3 or any(d < 1 for d in dims):
        raise argparse.ArgumentTypeError(f"expected CxHxW such as 3x224x224, got {text!r}")
    return dims


def _budget(args) -> Budget:
    return Budget(max_bytes=args.max_bytes, max_nodes=args.max_nodes, max_depth=args.max_depth)


def _report(diags: list[Diagnostic], fmt: str) -> None:
    if fmt == "json":
        print(render_json(diags))
        return
    sources: dict[str, str | None] = {}
    for d in diags:
        if d.file not in sources:
            try:
                sources[d.file] = Path(d.file).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                sources[d.file] = None
        print(render_text(d, sources[d.file]), file=sys.stderr)
    n = len(diags)
    print(f"{n} error{'s' if n != 1 else ''}", file=sys.stderr)


def _compile_all(paths: list[str], args, generate: bool):
    from .api import compile_spec

    results, diags = [], []
    for path in paths:
        try:
            model = compile_spec(path, _budget(args), args.overrides)
            text = None
            if generate:
                from .codegen import generate_source

                text = generate_source(model, args.overrides,
                                       getattr(args, "features", False))
            results.append((path, model, text))
        except SpecError as exc:
            diags.extend(exc.diagnostics)
    return results, diags


def cmd_check(args) -> int:
    results, diags = _compile_all(args.specs, args, generate=False)
    if diags:
        _report(diags, args.format)
        return EXIT_SPEC
    if args.format == "json":
        print(render_json([]))
    else:
        for path, model, _ in results:
            print(f"{path}: ok ({model.params:,} params, {model.macs:,} MACs)")
    return EXIT_OK


def cmd_build(args) -> int:
    from .codegen import factory_name
    from .writer import write_atomic

    results, diags = _compile_all(args.specs, args, generate=True)
    if diags:  # nothing is written unless every spec compiles
        _report(diags, args.format)
        return EXIT_SPEC
    out_dir = Path(args.output)
    for path, _, text in results:  # every spec compiled: now write, each file atomically
        suffix = "_features" if args.features else ""
        target = out_dir / f"{factory_name(path)}{suffix}.py"
        write_atomic(target, text)
        print(f"wrote {target}")
    return EXIT_OK


def cmd_summary(args) -> int:
    from .summary import summary_dict, summary_text

    if args.input:
        args.overrides = [*args.overrides, f"input=[{', '.join(map(str, args.input))}]"]
    results, diags = _compile_all([args.spec], args, generate=False)
    if diags:
        _report(diags, args.format)
        return EXIT_SPEC
    model = results[0][1]
    print(json.dumps(summary_dict(model), indent=2) if args.json else summary_text(model))
    return EXIT_OK


def cmd_diff(args) -> int:
    from .diff import diff_dict, diff_text

    results, diags = _compile_all(args.specs, args, generate=False)
    if diags:
        _report(diags, args.format)
        return EXIT_SPEC
    a, b = results[0][1], results[1][1]
    print(json.dumps(diff_dict(a, b), indent=2) if args.json else diff_text(a, b))
    return EXIT_OK


def cmd_graph(args) -> int:
    from .render import FORMATS, GraphvizMissing
    from .writer import write_atomic

    results, diags = _compile_all([args.spec], args, generate=False)
    if diags:
        _report(diags, "text")
        return EXIT_SPEC
    try:
        text = FORMATS[args.graph_format](results[0][1], max(0, args.depth))
    except GraphvizMissing as exc:
        print(f"archc: {exc}", file=sys.stderr)
        return EXIT_SPEC
    if args.output:
        write_atomic(Path(args.output), text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_schema(args) -> int:
    from .spec.schema import schema_text

    sys.stdout.write(schema_text())
    return EXIT_OK


def cmd_ops(args) -> int:
    from .spec.registry import builtin_ops

    for name, op in sorted(builtin_ops().items()):
        kind = "block" if hasattr(op, "body") else "primitive"
        print(f"{name}  ({kind}) {' '.join((op.doc or '').split())}")
        for p in op.params:
            default = "required" if p.required else f"default {p.default!r}"
            print(f"    {p.name}: {p.type}, {default}. {p.doc}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``archc`` console script."""
    args = _parser().parse_args(argv)
    handler = {"check": cmd_check, "build": cmd_build, "summary": cmd_summary,
               "diff": cmd_diff, "schema": cmd_schema, "ops": cmd_ops,
               "graph": cmd_graph}[args.command]
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into head & co.
        sys.stderr.close()
        return EXIT_OK
    except Exception as exc:  # a bug in archc, not in the spec: say so without a traceback
        print(f"archc: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        print("archc: please report this with the spec that caused it", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
