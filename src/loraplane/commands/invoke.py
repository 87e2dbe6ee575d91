"""`loraplane invoke NAME "prompt"`: ask an adapter (or the base model) through the stack's endpoint."""
import sys

from ..cli_parsers import Defaults as DEFAULTS, positive_int  # light: argparse, datetime, re


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("invoke", formatter_class=DEFAULTS,
                              help="ask a live adapter, or the base model, through the endpoint (sagemaker-runtime)",
                              description="With --base, the one positional is the prompt.")
    p.add_argument("name", metavar="NAME", help="a live adapter, or `base` for the base model")
    p.add_argument("prompt", nargs="?", help="the prompt")
    p.add_argument("--base", action="store_true", help="ask the base model (then NAME is left out)")
    p.add_argument("--stream", action="store_true", help="InvokeEndpointWithResponseStream: print tokens as they come")
    p.add_argument("--chat", action="store_true", help="send an OpenAI chat body (messages) instead of a completion")
    p.add_argument("--max-tokens", type=positive_int, default=64, metavar="N", help="tokens to generate at most")
    p.add_argument("--stack-name", help="the stack (default: $LORAPLANE_STACK or loraplane-local)")
    p.add_argument("--output", choices=["text", "json"], default="text",
                   help="text: the answer alone; json: the answer, the InvokeEndpoint arguments and timing")
    p.set_defaults(handler=invoke)


def invoke(args) -> int:
    import json

    import boto3

    from .. import invoke as inv
    from ..cli_errors import Usage
    from ..stack import describe, stack_name

    name, prompt = (None, args.name if args.prompt is None else args.prompt) if args.base else (args.name, args.prompt)
    if args.base and args.prompt is not None and args.name != inv.BASE:
        raise Usage("--base takes the prompt alone",
                    f'Run loraplane invoke --base "prompt" (or loraplane invoke {inv.BASE} "prompt")')
    if prompt is None:
        raise Usage("no prompt", 'Run loraplane invoke NAME "prompt" (NAME base for the base model)')
    if name == inv.BASE:
        name = None
    session = boto3.Session()
    outputs, _ = describe(stack_name(args.stack_name), session)
    text_out = args.output == "text"
    stream_out = args.stream and text_out  # json waits for the whole answer

    def show(piece: str) -> None:
        if stream_out:
            sys.stdout.write(piece)
            sys.stdout.flush()

    answer = inv.run(session, outputs, name, prompt, chat=args.chat, max_tokens=args.max_tokens, stream=args.stream,
                     on_text=show)
    if text_out:
        print("" if stream_out else answer["text"])
        target = answer["invoke"].get("InferenceComponentName") or answer["invoke"].get("CustomAttributes") or "base"
        print(f"({answer['adapter']} via {answer['invoke']['EndpointName']} / {target}, {answer['seconds']:.2f}s)",
              file=sys.stderr)
    else:
        print(json.dumps(answer, indent=2, default=str))
    return 0
