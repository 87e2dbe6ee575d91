"""What operators look at is wired to what the code does (template.yaml, docs/operations.md):

- every metric an alarm or the dashboard reads in the stack's own namespace is one the functions
  emit, with exactly those dimensions (CloudWatch matches dimension sets exactly: a dimension too
  many or too few is another metric, and the alarm or graph would stay empty forever);
- every metric goes through loraplane_core.observability.emit, whose table names its dimensions;
- every function has its log group, with the stack's retention, deleted with the stack;
- every alarm notifies the stack's topic and treats missing data as not breaching, and the
  dashboard shows every alarm."""
import ast
import json
import re

from loraplane_core.observability import METRICS

from .iam import REPO

LAYER = REPO / "layers" / "core" / "loraplane_core"
CODE = sorted((REPO / "functions").glob("*/app.py")) + sorted(LAYER.rglob("*.py"))
HELPER = LAYER / "observability.py"
POWERTOOLS = {"ColdStart": ("function_name",)}  # log_metrics(capture_cold_start_metric=True)


def resources(template, kind):
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def literal_names(node) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return literal_names(node.body) + literal_names(node.orelse)
    raise AssertionError(f"metric name is not a literal: {ast.unparse(node)}")


def emitted() -> dict[str, set[frozenset]]:
    """Metric name -> the dimension sets the code emits it with (`service` included)."""
    found: dict[str, set[frozenset]] = {}
    for path in CODE:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            called = ast.unparse(node.func)
            if path != HELPER:
                assert not called.endswith(("add_metric", "add_dimension", "add_dimensions", "single_metric")), \
                    f"{path.relative_to(REPO)}: {called} - emit() through loraplane_core.observability"
            if called == "emit":
                dims = frozenset(k.arg for k in node.keywords) | {"service"}
                for name in literal_names(node.args[0]):
                    assert name in METRICS, f"{path.relative_to(REPO)}: {name} is not in observability.METRICS"
                    assert dims == set(METRICS[name]) | {"service"}, f"{path.relative_to(REPO)}: {name} {sorted(dims)}"
                    found.setdefault(name, set()).add(dims)
    for path in sorted((REPO / "functions").glob("*/app.py")):
        text = path.read_text()
        if "Metrics()" in text:
            assert "@metrics.log_metrics(capture_cold_start_metric=True)" in text, path.relative_to(REPO)
            found.setdefault("ColdStart", set()).add(frozenset(POWERTOOLS["ColdStart"]) | {"service"})
    return found


def test_every_metric_in_the_table_is_emitted():
    assert set(METRICS) <= set(emitted())


def stack_namespace_and_service(sam_template) -> tuple[str, dict]:
    env = sam_template["Globals"]["Function"]["Environment"]["Variables"]
    return env["POWERTOOLS_METRICS_NAMESPACE"], env["POWERTOOLS_SERVICE_NAME"]


def test_service_tells_projects_apart(sam_template):
    namespace, service = stack_namespace_and_service(sam_template)
    assert namespace == "LoRAPlane"
    assert service == {"Fn::Sub": "${SageMakerProjectName}-${SageMakerProjectId}"}


def alarm_metrics(sam_template, namespace: str, service) -> list[tuple[str, frozenset]]:
    out = []
    for name, alarm in resources(sam_template, "AWS::CloudWatch::Alarm").items():
        p = alarm["Properties"]
        if p.get("Namespace") != namespace:
            continue
        dims = {d["Name"]: d["Value"] for d in p.get("Dimensions", [])}
        assert dims.get("service") == service, f"{name}: service dimension {dims.get('service')}"
        out.append((p["MetricName"], frozenset(dims)))
    return out


def dashboard_body(sam_template) -> tuple[dict, str]:
    """The dashboard's JSON (every ${...} replaced by SUBSTITUTED), and its text."""
    [dashboard] = resources(sam_template, "AWS::CloudWatch::Dashboard").values()
    body, variables = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    for ref in re.findall(r"\$\{([\w:]+)(?:\.\w+)?\}", body):
        assert ref in variables or ref in sam_template["Resources"] or ref.startswith("AWS::"), ref
    return json.loads(re.sub(r"\$\{[^}]+\}", "SUBSTITUTED", body)), body


def dashboard_metrics(body: dict, namespace: str, service: bool = True) -> list[tuple[str, frozenset]]:
    out = []
    for widget in body["widgets"]:
        for row in widget.get("properties", {}).get("metrics", []):
            if isinstance(row[0], dict):  # an expression
                expression = row[0]["expression"]
                for schema, name in re.findall(r"SEARCH\('\{([^}]*)\} MetricName=\"(\w+)\"", expression):
                    space, *dims = schema.split(",")
                    if space == namespace:
                        this_stack = 'service="SUBSTITUTED"' if service else 'EndpointName="SUBSTITUTED"'
                        assert this_stack in expression, expression  # this stack's only
                        out.append((name, frozenset(dims)))
            elif row[0] == namespace:
                values = [x for x in row[2:] if not isinstance(x, dict)]
                out.append((row[1], frozenset(values[0::2])))
    return out


def test_alarms_and_dashboard_read_only_metrics_the_code_emits(sam_template):
    namespace, service = stack_namespace_and_service(sam_template)
    body, _ = dashboard_body(sam_template)
    read = alarm_metrics(sam_template, namespace, service) + dashboard_metrics(body, namespace)
    assert {name for name, _ in read} >= {"DriftFound", "SmokeTest", "Upload", "Deployment", "LockWaitSeconds"}
    code = emitted()
    missing = [(name, sorted(dims)) for name, dims in read if dims not in code.get(name, set())]
    assert missing == [], f"read but never emitted with these dimensions: {missing}"


def test_dashboard_reads_the_serving_containers_metrics_as_it_emits_them(sam_template):
    """The container's EMF metrics (namespace LoRAPlane/Serving): names and dimension sets from usage_metrics."""
    from loraplane_serving import usage_metrics

    body, _ = dashboard_body(sam_template)
    read = dashboard_metrics(body, usage_metrics.NAMESPACE, service=False)
    assert {"PromptTokens", "GeneratedTokens", "Requests", "Errors"} <= {name for name, _ in read}
    for name, dims in read:
        emitted_with = usage_metrics.TIER_DIMENSIONS if name == "ResidentAdapters" else usage_metrics.ADAPTER_DIMENSIONS
        assert name in usage_metrics.METRICS and dims == frozenset(emitted_with), (name, sorted(dims))


def test_every_function_has_its_log_group_with_retention(sam_template):
    functions = resources(sam_template, "AWS::Serverless::Function")
    assert len(functions) >= 12
    for name, fn in functions.items():
        ref = fn["Properties"].get("LoggingConfig", {}).get("LogGroup", {}).get("Ref")
        group = sam_template["Resources"].get(ref or "", {})
        assert group.get("Type") == "AWS::Logs::LogGroup", f"{name}: LoggingConfig.LogGroup"
        function_name = fn["Properties"]["FunctionName"]["Fn::Sub"]
        assert group["Properties"]["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/{function_name}"}, name
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
        assert group.get("DeletionPolicy") == "Delete", name


def test_every_alarm_notifies_and_is_on_the_dashboard(sam_template):
    _, text = dashboard_body(sam_template)
    alarms = resources(sam_template, "AWS::CloudWatch::Alarm")
    assert {"DriftAlarm", "SmokeTestFailedAlarm", "Endpoint5xxAlarm", "EndpointLatencyAlarm"} <= set(alarms)
    for name, alarm in alarms.items():
        p = alarm["Properties"]
        assert p.get("AlarmActions") == [{"Ref": "NotificationTopic"}], name
        assert p.get("TreatMissingData") == "notBreaching", name
        assert "${" + name + ".Arn}" in text, f"{name} is not on the dashboard's alarm widget"


def test_dashboard_shows_the_dead_letter_queues_and_both_state_machines(sam_template):
    _, text = dashboard_body(sam_template)
    for queue in resources(sam_template, "AWS::SQS::Queue"):
        assert "${" + queue + ".QueueName}" in text, queue
    for machine in resources(sam_template, "AWS::Serverless::StateMachine"):
        assert "${" + machine + "}" in text, machine
