"""Usage metering end to end in the emulator: an adapter invoked through the real serving process (vLLM
on the CPU) prints its token counts as EMF lines on stdout, local hosting turns its log's EMF lines into
CloudWatch metrics (as CloudWatch Logs does on AWS), and `loraplane usage` reads them back per hour."""
import json

from loraplane.cli import main
from loraplane.waiting import wait_until
from tests.integration.test_deployment import ask_adapter, endpoint, make_live  # noqa: F401 - endpoint: a fixture
from tests.stack_fixture import STACK


def test_usage_reports_the_tokens_of_an_invocation(stack, endpoint, make_adapter, capsys):  # noqa: F811
    make_live(stack, make_adapter(seed=29), "metered")  # its smoke test invokes it too
    ask_adapter(stack, "metered")  # TGI-shaped, max_new_tokens 8

    def metered():
        capsys.readouterr()
        code = main(["usage", "--adapter", "metered", "--since", "1h", "--output", "json", "--stack-name", STACK])
        rows = json.loads(capsys.readouterr().out)["adapters"] if code == 0 else []
        return rows and rows[0]["requests"] >= 2 and rows[0]["generated_tokens"] > 0 and rows[0]

    row = wait_until(metered, timeout=60, interval=1, what="metered's tokens in CloudWatch")
    assert row["adapter"] == "metered" and row["prompt_tokens"] > 0
    assert row["generated_tokens"] <= 8 * row["requests"]
    assert [h["hour"][-9:] for h in row["hours"]] and all(h["hour"].endswith(":00:00Z") for h in row["hours"])
