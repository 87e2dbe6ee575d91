"""Redrive: events EventBridge could not deliver wait in the stack's dead-letter queues (an alarm
says so); each is started again on its state machine, then deleted from the queue. Safe to repeat:
ingest is idempotent on the weights' sha256 and deployments on the transition check; the execution
is named after the message, so a redrive interrupted between start and delete starts nothing twice."""
from dataclasses import asdict, dataclass

QUEUES = {"ingest": ("IngestDeadLetterQueueUrl", "IngestStateMachineArn"),
          "deploy": ("DeployDeadLetterQueueUrl", "DeployStateMachineArn")}


@dataclass
class Redriven:
    queue: str
    message_id: str
    execution: str | None  # None: the message was not an event (left in the queue)
    note: str = ""


def execution_name(message_id: str) -> str:
    return f"redrive-{message_id}"[:80]


def redrive(sqs, sfn, outputs: dict, queue: str, limit: int = 1000) -> list[Redriven]:
    import json

    url, machine = outputs[QUEUES[queue][0]], outputs[QUEUES[queue][1]]
    done: list[Redriven] = []
    while len(done) < limit:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                       VisibilityTimeout=60).get("Messages", [])
        if not messages:
            return done
        for m in messages:
            try:
                json.loads(m["Body"])
            except ValueError:
                done.append(Redriven(queue, m["MessageId"], None, "not JSON: left in the queue"))
                continue
            name = execution_name(m["MessageId"])
            try:
                arn = sfn.start_execution(stateMachineArn=machine, name=name, input=m["Body"])["executionArn"]
            except sfn.exceptions.ExecutionAlreadyExists:  # started by an earlier, interrupted redrive
                arn = f"{machine.replace(':stateMachine:', ':execution:')}:{name}"
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            done.append(Redriven(queue, m["MessageId"], arn))
    return done


def render(results: list[Redriven], output: str) -> str:
    import json

    if output == "json":
        return json.dumps([asdict(r) for r in results], indent=2)
    if not results:
        return "No dead letters: nothing to redrive."
    rows = [f"{r.queue:<7} {r.message_id:<38} {r.execution or r.note}" for r in results]
    return "\n".join([f"{'QUEUE':<7} {'MESSAGE':<38} EXECUTION", *rows])
