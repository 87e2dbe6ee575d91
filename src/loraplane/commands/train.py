"""`loraplane train`: the pipeline's training code (training/loraplane_training), run locally."""
import sys


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("train", help="fine-tune a LoRA adapter with PEFT on a prompt/completion JSONL file")
    p.add_argument("--base", required=True, help="Hugging Face directory of the base model")
    p.add_argument("--data", required=True, help='JSONL file, one {"prompt": "...", "completion": "..."} per line')
    p.add_argument("--out", required=True, help="directory to write the adapter (and training_metrics.json) to")
    p.add_argument("--base-name", default="", help="base_model_name_or_path to record (default: the base folder's name)")
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--alpha", type=int, help="LoRA alpha (default: 2 x rank)")
    # Unset flags (None) take TrainOptions' defaults in run(): reading them here would import
    # loraplane_training while the parser is built. --target-modules: all linear layers (ALL_LINEAR).
    p.add_argument("--target-modules")
    # The defaults fit the tiny demo model; for real models use e.g. --epochs 3 --lr 2e-4 (the pipeline's).
    p.add_argument("--epochs", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--max-length", type=int, help="tokens per example (prompt + completion), truncated")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--threads", type=int, default=1, help="CPU threads (0: torch's default; tiny models: 1 is fastest)")
    p.set_defaults(handler=run)


def run(args) -> int:
    from loraplane_training.dataset import DatasetError
    from loraplane_training.sft import TrainOptions, train

    given = {"epochs": args.epochs, "lr": args.lr, "max_length": args.max_length, "batch_size": args.batch_size,
             "seed": args.seed}
    if args.target_modules is not None:
        given["target_modules"] = tuple(m.strip() for m in args.target_modules.split(",") if m.strip())
    opts = TrainOptions(base_dir=args.base, data=args.data, out_dir=args.out, base_name=args.base_name,
                        rank=args.rank, alpha=args.alpha or 2 * args.rank, threads=args.threads,
                        **{k: v for k, v in given.items() if v is not None})
    try:
        train(opts, progress=lambda line: print(line, flush=True))
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
