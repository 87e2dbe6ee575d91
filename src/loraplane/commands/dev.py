"""`loraplane dev tiny-model | tiny-adapter`: tiny models and adapters built offline, for tests and demos."""
from .. import cli_options as opt  # light: argparse, datetime, re
from ..cli_parsers import positive_int, seed


def add_parser(subparsers) -> None:
    dev = subparsers.add_parser("dev", help="developer tools").add_subparsers(dest="action", required=True)
    tm = dev.add_parser("tiny-model", help="build a tiny Llama-style base model offline")
    tm.add_argument("dir", metavar="DIR", help="where to write it (config.json, model.safetensors, tokenizer)")
    tm.add_argument("--seed", type=seed, default=0, help="random seed of the weights")
    opt.output(tm, "text", "json", help="text: the directory; json: {path}")
    tm.set_defaults(handler=tiny_model)
    ta = dev.add_parser("tiny-adapter", help="build a PEFT LoRA adapter for a base model offline")
    opt.option(ta, "--base-model-dir", "--base", required=True, metavar="DIR", help=opt.BASE_MODEL_DIR_HELP)
    opt.option(ta, "--output-dir", "--out", required=True, metavar="DIR", help="where to write the adapter")
    ta.add_argument("--seed", type=seed, default=0, help="random seed of the weights")
    ta.add_argument("--rank", type=positive_int, default=8, metavar="N", help="LoRA rank")
    ta.add_argument("--target-modules", default="q_proj,v_proj", help="comma-separated modules to adapt")
    opt.option(ta, "--base-model-name", "--base-name", metavar="ID",
               help="base_model_name_or_path to record (default: the --base-model-dir folder's name)")
    opt.output(ta, "text", "json", help="text: the directory; json: {path}")
    ta.set_defaults(handler=tiny_adapter)


def tiny_model(args) -> int:
    from ..cli_output import render
    from ..dev.tiny import build_tiny_model

    path = build_tiny_model(args.dir, seed=args.seed)
    print(render({"path": path}, args.output, text=path))
    return 0


def tiny_adapter(args) -> int:
    from ..cli_errors import Usage
    from ..cli_output import render
    from ..cli_parsers import check_model_dir
    from ..dev.tiny import build_tiny_adapter

    check_model_dir(args.base_model_dir)
    modules = tuple(m.strip() for m in args.target_modules.split(",") if m.strip())
    if not modules:
        raise Usage(f"--target-modules {args.target_modules!r} names no module", "Pass e.g. q_proj,v_proj")
    path = build_tiny_adapter(args.base_model_dir, args.output_dir, seed=args.seed, rank=args.rank,
                              target_modules=modules, base_name=args.base_model_name)
    print(render({"path": path}, args.output, text=path))
    return 0
