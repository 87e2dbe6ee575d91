"""`loraplane local up|down|env`: the stack on the embedded AWS emulator, in the foreground or detached
(state in $LORAPLANE_HOME/local.json, see loraplane.local_state)."""
import os
import signal
import sys
import threading
import time

from ..cli_parsers import port, timeout_seconds  # light: argparse, datetime, re

DETACH_TIMEOUT_S = 600.0  # deploying the template takes seconds to a minute on a busy machine


def add_parser(subparsers) -> None:
    local = subparsers.add_parser("local", help="the embedded AWS emulator")
    local = local.add_subparsers(dest="action", required=True)
    p = local.add_parser("up", help="run the stack locally (in the foreground unless --detach) and print the "
                                    "environment to use")
    p.add_argument("--port", type=port, default=4566, help="the emulator's port on 127.0.0.1")
    p.add_argument("--no-base-model", action="store_true", help="do not register and approve the tiny base model")
    p.add_argument("--detach", action="store_true", help="run in the background (log in $LORAPLANE_HOME/local.log); "
                                                          "stop it with `loraplane local down`")
    p.set_defaults(handler=up)
    down = local.add_parser("down", help="stop the local stack (`local up`, detached or not) and its serving processes")
    down.add_argument("--timeout", type=timeout_seconds, default=60.0, metavar="SECONDS",
                      help="seconds to wait for a clean stop before SIGKILL")
    down.set_defaults(handler=stop)
    env = local.add_parser("env", help="print the running local stack's environment: eval \"$(loraplane local env)\"")
    env.set_defaults(handler=print_env)


def environment(emulator_env: dict[str, str]) -> dict[str, str]:
    from ..stack import DEFAULT_STACK

    return emulator_env | {"LORAPLANE_STACK": DEFAULT_STACK}


def up(args) -> int:
    from .. import local_state
    from ..cli_errors import CliError

    current = local_state.running()
    if current:
        raise CliError(f"a local stack is already running (pid {current['pid']}, {current['env']['AWS_ENDPOINT_URL']})",
                       "Use it (eval \"$(loraplane local env)\"), or stop it with `loraplane local down`")
    if args.detach:
        return detach(args)
    from .. import local
    from ..progress import Steps

    stop_event = threading.Event()  # SIGTERM (`local down`) from here on ends in the clean stop below
    signal.signal(signal.SIGTERM, lambda *_: stop_event.set())
    steps = Steps()
    stack = local.up(port=args.port, steps=steps)
    try:
        if not args.no_base_model:
            steps("Registering and approving the tiny base model (built once, in $LORAPLANE_HOME/models/) ...")
        base = None if args.no_base_model else local.register_tiny_base(stack)
        env = environment(stack.emulator.environment())
        print(f"LoRA Plane local stack '{local.LOCAL_STACK}' is up ({stack.deploy_seconds:.1f}s). Use it with:\n")
        print(local_state.exports(env))
        hints(stack.outputs, base)
        local_state.write({"pid": os.getpid(), "port": stack.emulator.port, "env": env, "stack": local.LOCAL_STACK,
                           "outputs": stack.outputs, "base_package": base, "started_at": int(time.time())})
        print("\nPress Ctrl-C to stop.", flush=True)
        try:
            stop_event.wait()
        except KeyboardInterrupt:
            pass
    finally:
        local_state.remove(os.getpid())
        stack.emulator.stop()
    return 0


def hints(outputs: dict, base: str | None, file=None) -> None:
    file = file or sys.stdout
    endpoint, bucket = outputs["EndpointName"], outputs["AdapterBucketName"]
    lines = [f"\n# adapter bucket : {bucket}",
             f"# model packages : {outputs['AdapterModelPackageGroupName']} (adapters), "
             f"{outputs['BaseModelPackageGroupName']} (base)"]
    if base:
        lines += [f"# base model     : tiny-llama, approved ({base});",
                  f"#                  the endpoint {endpoint} comes up in about a minute (loraplane status)"]
    lines += ["# try            : loraplane adapters upload my-adapter/ --adapter my-adapter",
              f"#                  (or aws s3 cp --recursive my-adapter/ s3://{bucket}/adapters/my-adapter/)",
              "#                  loraplane adapters list; loraplane adapters approve my-adapter",
              "#                  loraplane invoke my-adapter \"Hello\"   (the base model: loraplane invoke base ...)",
              f"#                  aws sagemaker-runtime invoke-endpoint --endpoint-name {endpoint} "
              "--inference-component-name NAME --content-type application/json \\",
              "#                      --body '{\"inputs\": \"Hello\"}' out.json"
              "   (AWS CLI v2: --cli-binary-format raw-in-base64-out)"]
    print("\n".join(lines), file=file)


def detach(args) -> int:
    from .. import local_state
    from ..cli_errors import CliError

    argv = ["--port", str(args.port)] + (["--no-base-model"] if args.no_base_model else [])
    print(f"Starting the local stack in the background (log: {local_state.home()}/{local_state.LOG_FILE}) ...",
          file=sys.stderr, flush=True)
    try:  # the child's progress lines, as they reach its log
        state = local_state.start_detached(argv, DETACH_TIMEOUT_S, on_progress=lambda line: print(
            line, file=sys.stderr, flush=True))
    except RuntimeError as e:
        raise CliError(str(e).splitlines()[0], "Read the log: " + " | ".join(str(e).splitlines()[-3:])) from None
    print(local_state.exports(state["env"]))  # stdout: eval-able
    print(f"# up: pid {state['pid']}; eval \"$(loraplane local env)\" in other shells, `loraplane local down` stops it",
          file=sys.stderr)
    hints(state["outputs"], state.get("base_package"), file=sys.stderr)
    return 0


def stop(args) -> int:
    from .. import local_state

    state = local_state.running()
    if not state:
        print(f"No local stack is running (no live process in {local_state.state_path()}).", file=sys.stderr)
        return 0
    clean = local_state.stop(state["pid"], wait=args.timeout)
    local_state.remove(state["pid"])
    print(f"Stopped the local stack (pid {state['pid']})" + ("" if clean else f", killed after {args.timeout:.0f}s")
          + ".", file=sys.stderr)
    return 0


def print_env(args) -> int:
    from .. import local_state
    from ..cli_errors import NotFound

    state = local_state.running()
    if not state:
        raise NotFound("no local stack is running", "Start one: loraplane local up --detach")
    print(local_state.exports(state["env"]))
    return 0
