"""Scales Step Functions Wait states, so tests need not sleep through a real grace period.

moto's interpreter waits for the full `Seconds`. With LORAPLANE_WAIT_SCALE=0.01 a 300 s wait
takes 3 s; unset, waits are real. (Applies to Wait states only, not to Retry intervals.)
"""
import os


def install() -> None:
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

    original = WaitFunction._wait_interval

    def _wait_interval(self, env, wait_seconds):
        scale = float(os.environ.get("LORAPLANE_WAIT_SCALE", "1"))
        if scale == 1:
            return original(self, env, wait_seconds)
        if wait_seconds * scale > 0:
            env.program_state_event.wait(wait_seconds * scale)  # returns early if the execution stops

    WaitFunction._wait_interval = _wait_interval
