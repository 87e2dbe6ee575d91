"""A boto3 client stand-in for pure steps: records every call (operation, keyword arguments) and answers
from `answers` - a dict of operation -> response, or a function of (operation, kwargs)."""


class Recorder:
    def __init__(self, answers=None):
        self.calls, self.answers = [], answers or {}

    def __getattr__(self, op):
        def call(**kwargs):
            self.calls.append((op, kwargs))
            return self.answers(op, kwargs) if callable(self.answers) else self.answers.get(op, {})
        return call


def policy_arns(op: str, kwargs: dict) -> dict:
    """Application Auto Scaling's PutScalingPolicy answer, named after the policy."""
    return {"PolicyARN": f"arn:policy/{kwargs.get('PolicyName')}"}
