"""Puts an event on the default bus of moto's EventBridge, as an AWS service would."""
import datetime
import time
import uuid


def iso_time(event: dict) -> dict:
    """moto keeps an event's `time` as Unix seconds until delivery, then writes ISO 8601."""
    if isinstance(event.get("time"), (int, float)):
        moment = datetime.datetime.fromtimestamp(event["time"], datetime.timezone.utc)
        event = {**event, "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ")}
    return event


def service_event(source: str, detail_type: str, account: str, region: str, resources: list[str], detail: dict) -> dict:
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": detail_type, "source": source,
        "account": account, "time": time.time(), "region": region, "resources": resources, "detail": detail,
    }


def emit(account: str, region: str, event: dict) -> None:
    """Deliver to every matching rule (the rule's own pattern check decides)."""
    from moto.events.models import events_backends

    backend = events_backends[account][region]
    for bus in list(backend.event_buses.values()):
        for rule in list(bus.rules.values()):
            if rule.state == "ENABLED":
                rule.send_to_targets(event, transform_input=False)
