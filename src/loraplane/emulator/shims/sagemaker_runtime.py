"""sagemaker-runtime InvokeEndpoint / InvokeEndpointWithResponseStream, proxied to local containers,
and InvokeEndpointAsync, queued for them (sagemaker_async).

moto's InvokeEndpoint answers canned data and it has no response-stream operation (its server does
not even route that path). This shim reads the request's parameters as AWS does (botocore's
sagemaker-runtime model: path, headers, payload), refuses what AWS refuses (ValidationError), and
forwards the body to the container that serves the endpoint or inference component
(`sagemaker_hosting.route`), naming an adapter component in X-Amzn-SageMaker-Adapter-Identifier as
SageMaker does. A container's 4xx/5xx becomes AWS's ModelError (424, OriginalStatusCode and
OriginalMessage); a stream comes back in AWS's event-stream framing, one PayloadPart per chunk.
An endpoint whose config has an AsyncInferenceConfig takes only InvokeEndpointAsync, and the others
only InvokeEndpoint (https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference.html).
"""
import binascii
import json
import os
import struct
import uuid
from urllib.parse import unquote

import requests

from . import aws_validation, sagemaker_async, sagemaker_hosting

SERVICE = "sagemaker-runtime"
ADAPTER_HEADER = "X-Amzn-SageMaker-Adapter-Identifier"  # aws/model-hosting-container-standards
ALIAS_HEADER = "X-Amzn-SageMaker-Adapter-Alias"
EVENT_STREAM = "application/vnd.amazon.eventstream"


def invoke_timeout() -> float:
    return float(os.environ.get("LORAPLANE_INVOKE_TIMEOUT", "300"))


# -- AWS event-stream framing --------------------------------------------------------------------
def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return struct.pack("!B", len(raw_name)) + raw_name + b"\x07" + struct.pack("!H", len(raw_value)) + raw_value  # 7: string


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message: prelude (total and headers length, CRC32), headers, payload, CRC32."""
    raw_headers = b"".join(_header(k, v) for k, v in headers.items())
    prelude = struct.pack("!II", 12 + len(raw_headers) + len(payload) + 4, len(raw_headers))
    message = prelude + struct.pack("!I", binascii.crc32(prelude)) + raw_headers + payload
    return message + struct.pack("!I", binascii.crc32(message))


def payload_part(data: bytes) -> bytes:
    return encode_message({":event-type": "PayloadPart", ":content-type": "application/octet-stream",
                           ":message-type": "event"}, data)


def stream_error(message: str, code: str = "ModelStreamError") -> bytes:
    body = json.dumps({"Message": message, "ErrorCode": code}).encode()
    return encode_message({":exception-type": "ModelStreamError", ":content-type": "application/json",
                           ":message-type": "exception"}, body)


# -- AWS error answers ----------------------------------------------------------------------------
def _error(status: int, code: str, body: dict):
    return status, {"status": status, "Content-Type": "application/json", "x-amzn-ErrorType": code,
                    "x-amzn-RequestId": str(uuid.uuid4())}, json.dumps(body)


def validation_error(message: str):
    return _error(400, "ValidationError", {"message": message})


def service_unavailable(message: str):
    return _error(503, "ServiceUnavailable", {"message": message})


def model_error(status: int | None, text: str, endpoint: str, account: str, region: str, log_path) -> tuple:
    group = f"/aws/sagemaker/Endpoints/{endpoint}"
    kind = "client" if status is not None and status < 500 else "server"
    message = (f"Received {kind} error ({status}) from primary with message \"{text}\". See "
               f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logEventViewer:group={group} "
               f"in account {account} for more information. (Local container log: {log_path})")
    body = {"ErrorCode": f"{kind.upper()}_ERROR_FROM_MODEL", "LogStreamArn": f"arn:aws:logs:{region}:{account}:log-group:{group}",
            "Message": message, "message": message, "OriginalMessage": text}
    if status is not None:
        body["OriginalStatusCode"] = status
    return _error(424, "ModelError", body)


# -- the request, as AWS reads it -------------------------------------------------------------------
def request_params(operation: str, path: str, headers, body: bytes) -> dict:
    """The operation's input members from the HTTP request (uri, header and payload locations)."""
    op = aws_validation.service_model(SERVICE).operation_model(operation)
    shape = op.input_shape
    segments = path.strip("/").split("/")  # endpoints/<EndpointName>/invocations...
    params = {}
    for name, member in shape.members.items():
        where = member.serialization.get("location")
        if where == "uri" and member.serialization.get("name") == "EndpointName" and len(segments) >= 2:
            params[name] = unquote(segments[1])
        elif where == "header":
            value = headers.get(member.serialization["name"])
            if value is not None:
                params[name] = value
        elif name == shape.serialization.get("payload") and body:
            params[name] = body
    return params


def _prepare(response, operation: str):
    """(params, target) or an error answer."""
    params = request_params(operation, response.path, response.headers, response.raw_body or b"")
    found = aws_validation.problems(SERVICE, operation, params)
    if found:
        return None, validation_error(aws_validation.message(found))
    try:
        if sagemaker_hosting.async_inference_config(response.current_account, response.region,
                                                    params["EndpointName"]):
            return None, validation_error(f"Endpoint {params['EndpointName']} is an asynchronous endpoint: it takes "
                                          "only InvokeEndpointAsync.")
        target = sagemaker_hosting.route(response.current_account, response.region, params["EndpointName"],
                                         params.get("InferenceComponentName"), params.get("TargetVariant"))
    except sagemaker_hosting.NotRoutable as e:
        return None, validation_error(str(e))
    return (params, target), None


def _forward(params: dict, target, accept: str | None, stream: bool, timeout: float | None = None) -> requests.Response:
    headers = {}
    if params.get("ContentType"):
        headers["Content-Type"] = params["ContentType"]
    if accept:
        headers["Accept"] = accept
    if params.get("CustomAttributes"):
        headers["X-Amzn-SageMaker-Custom-Attributes"] = params["CustomAttributes"]
    if params.get("InferenceId"):
        headers["X-Amzn-SageMaker-Inference-Id"] = params["InferenceId"]
    if target.adapter:  # the component's name in both (what SageMaker sends is not documented)
        headers[ADAPTER_HEADER] = headers[ALIAS_HEADER] = target.adapter
    return requests.post(target.container.url + "/invocations", data=params["Body"], headers=headers,
                         timeout=timeout or invoke_timeout(), stream=stream)


def _container_failure(response, params, target, e: Exception):
    return model_error(None, f"the container could not be reached or timed out: {e}", params["EndpointName"],
                       response.current_account, response.region, target.container.log_path)


def invoke_endpoint(self):
    prepared, refused = _prepare(self, "InvokeEndpoint")
    if refused:
        return refused
    params, target = prepared
    try:
        r = _forward(params, target, params.get("Accept"), stream=False)
    except requests.RequestException as e:
        return _container_failure(self, params, target, e)
    if r.status_code >= 400:
        return model_error(r.status_code, r.text, params["EndpointName"], self.current_account, self.region,
                           target.container.log_path)
    headers = {"status": 200, "Content-Type": r.headers.get("Content-Type", "application/json"),
               "x-Amzn-Invoked-Production-Variant": target.variant}
    if "X-Amzn-SageMaker-Custom-Attributes" in r.headers:
        headers["X-Amzn-SageMaker-Custom-Attributes"] = r.headers["X-Amzn-SageMaker-Custom-Attributes"]
    return 200, headers, r.content


def invoke_endpoint_with_response_stream(self):
    prepared, refused = _prepare(self, "InvokeEndpointWithResponseStream")
    if refused:
        return refused
    params, target = prepared
    try:
        r = _forward(params, target, params.get("Accept"), stream=True)
    except requests.RequestException as e:
        return _container_failure(self, params, target, e)
    if r.status_code >= 400:
        return model_error(r.status_code, r.text, params["EndpointName"], self.current_account, self.region,
                           target.container.log_path)

    def events():
        try:
            for chunk in r.iter_content(chunk_size=None):
                if chunk:
                    yield payload_part(chunk)
        except Exception as e:  # noqa: BLE001 - AWS reports a broken stream as an event, not a status
            yield stream_error(f"the container's response stream broke: {e}")
        finally:
            r.close()

    headers = {"status": 200, "Content-Type": EVENT_STREAM,
               "X-Amzn-SageMaker-Content-Type": r.headers.get("Content-Type", "application/octet-stream"),
               "x-Amzn-Invoked-Production-Variant": target.variant}
    return 200, headers, events()


def async_params(response) -> dict:
    """InvokeEndpointAsync's members from the request; its integer headers as integers (ValueError)."""
    params = request_params("InvokeEndpointAsync", response.path, response.headers, response.raw_body or b"")
    shape = aws_validation.service_model(SERVICE).operation_model("InvokeEndpointAsync").input_shape
    for name, member in shape.members.items():
        if member.type_name == "integer" and name in params:
            value = params[name].strip()
            if not value.isascii() or not value.lstrip("-").isdigit() or len(value) > 12:
                raise ValueError(f"Value '{value[:40]}' at '{name[:1].lower() + name[1:]}' failed to satisfy "
                                 "constraint: Member must be an integer")
            params[name] = int(value)
    return params


def invoke_endpoint_async(self):
    try:
        params = async_params(self)
    except ValueError as e:
        return validation_error(str(e))
    found = aws_validation.problems(SERVICE, "InvokeEndpointAsync", params)
    if found:
        return validation_error(aws_validation.message(found))
    try:
        config = sagemaker_hosting.async_inference_config(self.current_account, self.region, params["EndpointName"])
        job = sagemaker_async.plan(self.current_account, self.region, params, config)
    except (sagemaker_hosting.NotRoutable, sagemaker_async.Refused) as e:
        return validation_error(str(e))
    if not sagemaker_async.enqueue(job):
        return service_unavailable(f"The emulator's queue of asynchronous requests is full "
                                   f"({sagemaker_async.QUEUE_SIZE}): try again later.")
    headers = {"status": 202, "Content-Type": "application/json",
               "X-Amzn-SageMaker-OutputLocation": job.output_location}
    if job.failure_location:
        headers["X-Amzn-SageMaker-FailureLocation"] = job.failure_location
    return 202, headers, json.dumps({"InferenceId": job.inference_id})


def install() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication
    from moto.sagemakerruntime import urls
    from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

    SageMakerRuntimeResponse.invoke_endpoint = invoke_endpoint
    SageMakerRuntimeResponse.invoke_endpoint_async = invoke_endpoint_async
    sagemaker_async.install(forward=_forward, route=lambda account, region, endpoint: sagemaker_hosting.route(
        account, region, endpoint, None, None))
    SageMakerRuntimeResponse.invoke_endpoint_with_response_stream = invoke_endpoint_with_response_stream
    # moto's URL map and its server's service routing know only .../invocations.
    urls.url_paths["{0}/endpoints/(?P<name>[^/]+)/invocations-response-stream$"] = urls.response.dispatch
    original = DomainDispatcherApplication.infer_service_region_host

    def infer_service_region_host(self, environ, path):
        host = original(self, environ, path)
        if host and host.startswith("api.sagemaker.") and environ.get("PATH_INFO", "").endswith(
                "/invocations-response-stream"):
            return host.replace("api.sagemaker.", "runtime.sagemaker.", 1)
        return host

    DomainDispatcherApplication.infer_service_region_host = infer_service_region_host
