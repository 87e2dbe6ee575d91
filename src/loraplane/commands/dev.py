"""`loraplane dev tiny-model | tiny-adapter`: tiny models and adapters built offline, for tests and demos."""


def add_parser(subparsers) -> None:
    dev = subparsers.add_parser("dev", help="developer tools").add_subparsers(dest="action", required=True)
    tm = dev.add_parser("tiny-model", help="build a tiny Llama-style base model offline")
    tm.add_argument("dir")
    tm.add_argument("--seed", type=int, default=0)
    tm.set_defaults(handler=tiny_model)
    ta = dev.add_parser("tiny-adapter", help="build a PEFT LoRA adapter for a base model offline")
    ta.add_argument("--base", required=True)
    ta.add_argument("--out", required=True)
    ta.add_argument("--seed", type=int, default=0)
    ta.add_argument("--rank", type=int, default=8)
    ta.add_argument("--target-modules", default="q_proj,v_proj")
    ta.add_argument("--base-name", help="base_model_name_or_path to record (default: the base folder's name)")
    ta.set_defaults(handler=tiny_adapter)


def tiny_model(args) -> int:
    from ..dev.tiny import build_tiny_model

    print(build_tiny_model(args.dir, seed=args.seed))
    return 0


def tiny_adapter(args) -> int:
    from ..dev.tiny import build_tiny_adapter

    print(build_tiny_adapter(args.base, args.out, seed=args.seed, rank=args.rank,
                             target_modules=tuple(args.target_modules.split(",")), base_name=args.base_name))
    return 0
