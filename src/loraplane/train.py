"""`loraplane train`: the pipeline's training code (training/loraplane_training), run locally."""
import sys

from loraplane_training.dataset import DatasetError
from loraplane_training.sft import ALL_LINEAR, TrainOptions, train


def add_arguments(p) -> None:
    p.add_argument("--base", required=True, help="Hugging Face directory of the base model")
    p.add_argument("--data", required=True, help='JSONL file, one {"prompt": "...", "completion": "..."} per line')
    p.add_argument("--out", required=True, help="directory to write the adapter (and training_metrics.json) to")
    p.add_argument("--base-name", default="", help="base_model_name_or_path to record (default: the base folder's name)")
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--alpha", type=int, help="LoRA alpha (default: 2 x rank)")
    p.add_argument("--target-modules", default=",".join(ALL_LINEAR))
    # The defaults fit the tiny demo model; for real models use e.g. --epochs 3 --lr 2e-4 (the pipeline's).
    p.add_argument("--epochs", type=int, default=TrainOptions.epochs)
    p.add_argument("--lr", type=float, default=TrainOptions.lr)
    p.add_argument("--max-length", type=int, default=TrainOptions.max_length, help="tokens per example (prompt + completion), truncated")
    p.add_argument("--batch-size", type=int, default=TrainOptions.batch_size)
    p.add_argument("--seed", type=int, default=TrainOptions.seed)
    p.add_argument("--threads", type=int, default=1, help="CPU threads (0: torch's default; tiny models: 1 is fastest)")


def run(args) -> int:
    opts = TrainOptions(base_dir=args.base, data=args.data, out_dir=args.out, base_name=args.base_name,
                        rank=args.rank, alpha=args.alpha or 2 * args.rank,
                        target_modules=tuple(m.strip() for m in args.target_modules.split(",") if m.strip()),
                        epochs=args.epochs, lr=args.lr, max_length=args.max_length, batch_size=args.batch_size,
                        seed=args.seed, threads=args.threads)
    try:
        train(opts, progress=lambda line: print(line, flush=True))
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
