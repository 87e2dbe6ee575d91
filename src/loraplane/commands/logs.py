"""`loraplane logs`: CloudWatch Logs of the stack's Lambda functions and of its endpoint, merged by time."""
import sys

from .. import cli_options as opt  # light: argparse, datetime, re
from ..cli_parsers import parse_since, poll_seconds


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("logs", help="the Lambda functions' and the endpoint's CloudWatch Logs, merged by time")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--function", metavar="NAME",
                       help="one function: validate, register, record, notify, decision, lock, adapter, basemodel, "
                            "smoke, outcome, reconcile, cleanup (or its full name) (default: all, and the endpoint)")
    which.add_argument("--endpoint", action="store_true", help="the endpoint's log group only")
    p.add_argument("--since", type=parse_since, default="10m",
                   help="how far back: a duration (30s, 10m, 2h, 1d, 1h30m) or an ISO-8601 time (UTC by default)")
    p.add_argument("--filter", metavar="PATTERN",
                   help="a CloudWatch Logs filter pattern, e.g. ERROR or '\"adapter x\"' (default: every event)")
    p.add_argument("--follow", "-f", action="store_true", help="keep polling for new events until Ctrl-C")
    opt.option(p, "--poll-seconds", "--interval", type=poll_seconds, default=5.0, metavar="SECONDS",
               help="seconds between polls with --follow, 1-300")
    opt.stack_name(p)
    opt.output(p, "text", "json", help="text: time, source, message; json: one JSON object per event and line")
    p.set_defaults(handler=logs)


def logs(args) -> int:
    import boto3

    from .. import logs as lg
    from ..cli_errors import NotFound
    from ..stack import describe, stack_name

    session, name = boto3.Session(), stack_name(args.stack_name)
    outputs, _ = describe(name, session)
    groups, prefix = lg.groups_for(session, name, outputs, args.function, args.endpoint)
    warn = (lambda text: print(f"note: {text}", file=sys.stderr)) if args.follow else (lambda _: None)
    tail = lg.Tail(session.client("logs"), groups, args.since, args.filter, warn=warn)

    def emit(event: dict) -> None:
        print(lg.line_of(event, prefix, args.output), flush=True)

    if args.follow:
        print(f"Following {len(groups)} log group(s) of {name}; Ctrl-C stops.", file=sys.stderr)
        lg.follow(tail, emit, args.poll_seconds)
        return 0
    events = tail.poll()
    if tail.missing == set(groups):
        raise NotFound(f"no log group {' or '.join(sorted(tail.missing))}",
                       "The endpoint logs once it exists (the local emulator keeps container logs in files under "
                       "$LORAPLANE_HOME/hosting/)" if args.endpoint else "Deploy the current template")
    for event in events:
        emit(event)
    if not events:
        print(f"No events since --since in {len(groups) - len(tail.missing)} log group(s).", file=sys.stderr)
    return 0
