"""`loraplane train`: the pipeline's training code (training/loraplane_training), run locally."""
from .. import cli_options as opt  # light: argparse, datetime, re
from ..cli_parsers import number, positive_int, seed, whole


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("train", help="fine-tune a LoRA adapter with PEFT on a prompt/completion JSONL file")
    opt.option(p, "--base-model-dir", "--base", required=True, metavar="DIR", help=opt.BASE_MODEL_DIR_HELP)
    p.add_argument("--data", required=True, metavar="JSONL",
                   help='JSONL file, one {"prompt": "...", "completion": "..."} per line')
    opt.option(p, "--output-dir", "--out", required=True, metavar="DIR",
               help="directory to write the adapter (and training_metrics.json) to")
    opt.option(p, "--base-model-name", "--base-name", default="", metavar="ID",
               help="base_model_name_or_path to record (default: the --base-model-dir folder's name)")
    p.add_argument("--rank", type=positive_int, default=8, metavar="N", help="LoRA rank")
    p.add_argument("--alpha", type=positive_int, metavar="N", help="LoRA alpha (default: 2 x rank)")
    # Unset flags (None) take TrainOptions' defaults in run(): reading them here would import
    # loraplane_training while the parser is built. The defaults fit the tiny demo model; for real models use
    # e.g. --epochs 3 --lr 2e-4 (the pipeline's).
    p.add_argument("--target-modules", metavar="NAMES",
                   help="comma-separated modules to adapt (default: all linear layers)")
    p.add_argument("--epochs", type=positive_int, metavar="N", help="passes over the data (default: 50, for the "
                                                                     "tiny demo model)")
    p.add_argument("--lr", type=number(0, above=True), help="learning rate (default: 0.01, for the tiny demo model)")
    p.add_argument("--max-length", type=positive_int, metavar="N",
                   help="tokens per example (prompt + completion), truncated (default: 256)")
    p.add_argument("--batch-size", type=positive_int, metavar="N", help="examples per step (default: 4)")
    p.add_argument("--seed", type=seed, help="random seed (default: 0)")
    p.add_argument("--threads", type=whole(0, 1024), default=1, metavar="N",
                   help="CPU threads (0: torch's default; tiny models: 1 is fastest)")
    opt.output(p, "text", "json", help="text: the adapter directory; json: the run's steps, losses and time. "
                                       "Progress goes to stderr")
    p.set_defaults(handler=run)


def run(args) -> int:
    import sys
    from dataclasses import asdict

    from loraplane_training.dataset import DatasetError
    from loraplane_training.sft import TrainOptions, train

    from ..cli_errors import Usage
    from ..cli_output import render
    from ..cli_parsers import check_model_dir

    given = {"epochs": args.epochs, "lr": args.lr, "max_length": args.max_length, "batch_size": args.batch_size,
             "seed": args.seed}
    if args.target_modules is not None:
        given["target_modules"] = tuple(m.strip() for m in args.target_modules.split(",") if m.strip())
        if not given["target_modules"]:
            raise Usage(f"--target-modules {args.target_modules!r} names no module", "Pass e.g. q_proj,v_proj")
    opts = TrainOptions(base_dir=args.base_model_dir, data=args.data, out_dir=args.output_dir,
                        base_name=args.base_model_name, rank=args.rank, alpha=args.alpha or 2 * args.rank,
                        threads=args.threads, **{k: v for k, v in given.items() if v is not None})
    try:
        result = train(opts, progress=lambda line: print(line, file=sys.stderr, flush=True))
    except DatasetError as e:  # train() reads the dataset first: its errors come before the model's
        raise Usage(str(e), "Fix the dataset: one {\"prompt\": ..., \"completion\": ...} object per line") from None
    except (OSError, ValueError):  # transformers' answers to a folder that is no model: say it in one line
        check_model_dir(args.base_model_dir)
        raise
    print(render(asdict(result), args.output, text=result.out_dir))
    return 0
