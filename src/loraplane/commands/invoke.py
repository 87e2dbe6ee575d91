"""`loraplane invoke NAME "prompt"`: ask an adapter (or the base model) through the stack's endpoint."""
import sys

from .. import cli_options as opt  # light: argparse, datetime, re
from ..cli_parsers import json_body, number, positive_int

WAIT_SECONDS = number(1, 3600, unit="of seconds")  # InvokeEndpointAsync's InvocationTimeoutSeconds is at most 1 h


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("invoke",
                              help="ask a live adapter, or the base model, through the endpoint (sagemaker-runtime)",
                              description="With --base, the one positional is the prompt. With --body, the prompt "
                                          "is left out and the body sent as it is.")
    p.add_argument("name", metavar="NAME", help="a live adapter, or `base` for the base model")
    p.add_argument("prompt", nargs="?", help="the prompt (default: none; needed unless --body)")
    p.add_argument("--base", action="store_true", help="ask the base model (then NAME is left out)")
    p.add_argument("--body", type=json_body, metavar="JSON",
                   help="the request body as a JSON object, sent as it is instead of one built from the prompt "
                        "(default: built from the prompt, --chat, --max-tokens and --stream)")
    p.add_argument("--stream", action="store_true", help="InvokeEndpointWithResponseStream: print tokens as they come")
    p.add_argument("--chat", action="store_true", help="send an OpenAI chat body (messages) instead of a completion")
    p.add_argument("--max-tokens", type=positive_int, default=64, metavar="N", help="tokens to generate at most")
    p.add_argument("--async", dest="async_", action="store_true",
                   help="InvokeEndpointAsync through S3 (the default when the stack's ServingMode is async)")
    p.add_argument("--wait-seconds", type=WAIT_SECONDS, default=900, metavar="S",
                   help="with an asynchronous endpoint: how long to wait for the answer in S3")
    opt.stack_name(p)
    opt.output(p, "text", "json",
               help="text: the answer alone; json: the answer, the InvokeEndpoint arguments and timing")
    p.set_defaults(handler=invoke)


def invoke(args) -> int:
    import json

    import boto3

    from .. import invoke as inv
    from ..stack import describe, stack_name

    name, prompt = inv.target(args.name, args.prompt, args.base, args.body is not None)
    session = boto3.Session()
    outputs, _ = describe(stack_name(args.stack_name), session)
    text_out = args.output == "text"
    if args.async_ or outputs.get("ServingMode") == "async":
        return invoke_async(args, session, outputs, name, prompt, text_out)
    stream_out = args.stream and text_out  # json waits for the whole answer

    def show(piece: str) -> None:
        if stream_out:
            sys.stdout.write(piece)
            sys.stdout.flush()

    answer = inv.run(session, outputs, name, prompt, chat=args.chat, max_tokens=args.max_tokens, stream=args.stream,
                     on_text=show, body=args.body)
    if text_out:
        print("" if stream_out else answer["text"])
        target = answer["invoke"].get("InferenceComponentName") or answer["invoke"].get("CustomAttributes") or "base"
        print(f"({answer['adapter']} via {answer['invoke']['EndpointName']} / {target}, {answer['seconds']:.2f}s)",
              file=sys.stderr)
    else:
        print(json.dumps(answer, indent=2, default=str))
    return 0


def invoke_async(args, session, outputs: dict, name: str | None, prompt: str | None, text_out: bool) -> int:
    """An asynchronous endpoint: the request goes through S3 and the answer is read back from there."""
    import json

    from .. import invoke_async as inv_async
    from ..cli_errors import Usage

    if args.stream:
        raise Usage("an asynchronous endpoint does not stream", "Leave out --stream")
    answer = inv_async.run(
        session, outputs, name, prompt, chat=args.chat, max_tokens=args.max_tokens, body=args.body,
        wait_seconds=args.wait_seconds,
        on_submitted=lambda w: print(f"queued {w['inference_id']}: answer at {w['output_location']}", file=sys.stderr))
    if text_out:
        print(answer["text"])
        print(f"({answer['adapter']} via {answer['invoke']['EndpointName']} asynchronously, {answer['seconds']:.2f}s)",
              file=sys.stderr)
    else:
        print(json.dumps(answer, indent=2, default=str))
    return 0
