"""`make demo`: the whole journey on the local stack, step by step, with timings.

The embedded AWS emulator runs the real template; local SageMaker hosting runs the real serving
container's server (vLLM on the CPU) behind the endpoint. A tiny base model package is approved
and becomes the endpoint; adapters are fine-tuned on the shipped datasets (`loraplane train`);
three are uploaded (one invalid, rejected with its reason); two are approved and answer, each in
its own way; one is rejected and retired; a second version of the other is approved and replaces
the first.
"""
import json
import os
import shutil
import tempfile
import time

from loraplane_core import catalog, catalog_keys
from loraplane_core.deployment import versions as deployments
from loraplane_core.deployment.serving_modes import invoke_args

from . import local, usage
from .adapters_list import collect, render
from .waiting import wait_until

PROMPT = "Hello, who are you?"


class Steps:
    def __init__(self):
        self.t0 = time.perf_counter()
        self.timings: list[tuple[str, float]] = []

    def run(self, title: str, fn, *args, **kwargs):
        print(f"==> {title} ...", flush=True)
        t = time.perf_counter()
        result = fn(*args, **kwargs)
        self.timings.append((title, time.perf_counter() - t))
        print(f"    done in {self.timings[-1][1]:.1f}s", flush=True)
        return result


class Journey:
    def __init__(self, stack):
        self.stack, self.out = stack, stack.outputs
        self.s3, self.sm = stack.emulator.client("s3"), stack.emulator.client("sagemaker")
        self.runtime = stack.emulator.client("sagemaker-runtime")
        self.table = stack.emulator.resource("dynamodb").Table(self.out["CatalogTableName"])
        self.endpoint = self.out["EndpointName"]

    def upload(self, src: str, name: str) -> None:
        for filename in ("adapter_model.safetensors", "adapter_config.json"):  # any order works
            self.s3.upload_file(os.path.join(src, filename), self.out["AdapterBucketName"], f"adapters/{name}/{filename}")

    def wait_base_live(self, package_arn: str) -> None:
        wait_until(lambda: (deployments.deployed_base(self.table, self.endpoint) or {}).get("package_arn") == package_arn,
                   timeout=900, interval=1, what="the base model to be live on the endpoint")

    def version(self, name: str, n: int = 1) -> dict:
        return wait_until(lambda: (lambda v: v[n - 1] if len(v) >= n else None)(deployments.versions(self.table, name)),
                          timeout=180, interval=0.5, what=f"version {n} of {name} to be registered")

    def rejection(self, name: str) -> dict:
        return wait_until(lambda: next((i for i in catalog.adapter_items(self.table, name)
                                        if catalog_keys.kind_of(i) == "rejection"), None),
                          timeout=180, interval=0.5, what=f"{name} to be rejected")

    def decide(self, item: dict, status: str, reason: str | None = None) -> None:
        self.sm.update_model_package(ModelPackageArn=item["package_arn"], ModelApprovalStatus=status,
                                     **({"ApprovalDescription": reason} if reason else {}))

    def wait_state(self, name: str, item: dict, state: str) -> None:
        wait_until(lambda: (deployments.find_item(self.table, name, item["package_arn"]) or {}).get("state") == state,
                   timeout=600, interval=0.5, what=f"{name} version {item['package_version']} to be {state}")

    def ask(self, adapter: str | None) -> str:
        args = invoke_args(self.out["ServingMode"], self.endpoint, adapter)
        body = {"inputs": PROMPT, "parameters": {"max_new_tokens": 8}}
        resp = self.runtime.invoke_endpoint(**args, ContentType="application/json", Body=json.dumps(body))
        return json.loads(resp["Body"].read())[0]["generated_text"]

    def refused(self, adapter: str) -> str:
        try:
            self.ask(adapter)
        except Exception as e:  # noqa: BLE001 - the error is what we show
            return str(e)
        raise AssertionError(f"{adapter} still answers")


DATASETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "datasets")


def build_adapters(base_dir: str, work: str) -> dict[str, str]:
    """Three adapters fine-tuned on the shipped datasets (support-bot v2 on the revised support
    dataset), and a random rank-32 one that ingest rejects (MaxLoraRank 16)."""
    from loraplane_training.sft import TrainOptions, train

    from .dev.tiny import build_tiny_adapter

    adapters = {}
    for name, dataset in (("support-bot", "support-bot"), ("sql-helper", "sql-helper"),
                          ("support-bot-v2", "support-bot-v2")):
        out = os.path.join(work, name)
        r = train(TrainOptions(base_dir=base_dir, data=os.path.join(DATASETS, f"{dataset}.jsonl"), out_dir=out),
                  progress=lambda line: None)
        print(f"    trained {name:15s} on {dataset}.jsonl: {r.seconds:.1f}s, {r.steps} steps, "
              f"loss {r.first_loss:.2f} -> {r.final_loss:.3f}", flush=True)
        adapters[name] = out
    adapters["big-rank"] = build_tiny_adapter(base_dir, os.path.join(work, "big-rank"), seed=3, rank=32)
    return adapters


def metered(stack_name: str) -> dict:
    """`loraplane usage --since 1h` once all of support-bot's requests are there (two smoke tests, two asks):
    under local hosting the serving process prints its EMF metrics every 5 s, and local hosting turns
    them into CloudWatch metrics."""
    import boto3

    def report():
        found = usage.collect(boto3.Session(), stack_name, usage.parse_since("1h"))
        return found if any(r["adapter"] == "support-bot" and r["requests"] >= 4 for r in found["adapters"]) else None
    return wait_until(report, timeout=60, interval=1, what="support-bot's requests in CloudWatch")


def status_report(stack_name: str) -> str:
    import boto3

    from . import status

    return status.render(status.collect(boto3.Session(), stack_name), "table")


def run() -> int:
    steps = Steps()
    stack = steps.run("Start the embedded AWS emulator and deploy template.yaml into it", local.up)
    j = Journey(stack)
    print(f"    endpoint {j.endpoint} (serving mode {j.out['ServingMode']}), bucket {j.out['AdapterBucketName']}")
    work = tempfile.mkdtemp(prefix="loraplane-demo-")
    checks: dict[str, bool] = {}
    try:
        base_arn = steps.run("Register the tiny base model and approve its package", local.register_tiny_base, stack)
        steps.run("Approval -> endpoint created, base model serving (vLLM on the CPU), smoke-tested",
                  j.wait_base_live, base_arn)
        answers = {"base model": j.ask(None)}
        adapters = steps.run("Fine-tune three PEFT adapters on examples/datasets/ (loraplane train), "
                             "build one with rank 32 > MaxLoraRank 16",
                             build_adapters, local.tiny_base_model_dir(), work)
        steps.run("Upload three adapters to S3", lambda: [j.upload(adapters[n], n) for n in ("support-bot", "sql-helper", "big-rank")])
        bot, sql = steps.run("Ingest: validate -> register (two versions pending approval)",
                             lambda: (j.version("support-bot"), j.version("sql-helper")))
        rejected = j.rejection("big-rank")
        print(f"    big-rank rejected: {rejected['reason']}: {rejected['message']}")
        checks["invalid upload rejected with its reason"] = rejected["reason"] == "RANK_TOO_HIGH"

        def approve_both():
            j.decide(bot, "Approved")
            j.decide(sql, "Approved")
            j.wait_state("support-bot", bot, "live")
            j.wait_state("sql-helper", sql, "live")
        steps.run("Approve support-bot and sql-helper -> live on the endpoint (one change at a time)", approve_both)
        answers |= {"support-bot v1": j.ask("support-bot"), "sql-helper": j.ask("sql-helper")}
        checks["each adapter answers differently from the base"] = len(set(answers.values())) == 3

        def reject_sql():
            j.decide(sql, "Rejected", "answers in the wrong tone")
            j.wait_state("sql-helper", sql, "retired")
        steps.run("Reject sql-helper -> retired (no approved version left)", reject_sql)
        refusal = j.refused("sql-helper")
        print(f"    sql-helper now: {refusal[:160]}")
        checks["retired adapter refused"] = "sql-helper" in refusal

        def replace_bot():
            j.upload(adapters["support-bot-v2"], "support-bot")
            v2 = j.version("support-bot", 2)
            j.decide(v2, "Approved")
            j.wait_state("support-bot", v2, "live")
            return v2
        steps.run("Upload support-bot version 2 and approve it -> replaces version 1", replace_bot)
        answers["support-bot v2"] = j.ask("support-bot")
        checks["version 2 replaced version 1"] = answers["support-bot v2"] != answers["support-bot v1"] and \
            deployments.versions(j.table, "support-bot")[0]["state"] == "retired"

        print("\nAnswers to " + repr(PROMPT) + " (greedy, 8 tokens):")
        for who, text in answers.items():
            print(f"    {who:16s} -> {text!r}")
        print("\n" + render(collect(j.table, j.sm, j.endpoint, j.out["ServingMode"]), as_json=False) + "\n")
        report = steps.run("Usage metering: the container's EMF metrics reach CloudWatch (loraplane usage)",
                           metered, local.LOCAL_STACK)
        checks["tokens metered per adapter"] = any(r["adapter"] == "support-bot" and r["generated_tokens"] > 0
                                                   for r in report["adapters"])
        print("\n$ loraplane status\n" + status_report(local.LOCAL_STACK))
        print("\n$ loraplane usage --since 1h\n" + usage.render(report, "table") + "\n")
        print("Summary:")
        for title, seconds in steps.timings:
            print(f"  {seconds:7.1f}s  {title}")
        for check, ok in checks.items():
            print(f"  [{'ok' if ok else 'FAILED'}] {check}")
        ok = all(checks.values())
        print(f"  total {time.perf_counter() - steps.t0:.1f}s - {'OK' if ok else 'UNEXPECTED RESULT'}")
        return 0 if ok else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
        steps.run("Shut down (serving processes, emulator)", stack.emulator.stop)
