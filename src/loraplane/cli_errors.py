"""What the `loraplane` command prints instead of a traceback: errors the user can fix (credentials,
region, a missing stack or one of its outputs, an emulator that is not running, a taken port, an unknown adapter,
a mistyped path) become one line on stderr, `error: <what>. <fix>`, with an exit code per kind (docs/operations.md).
Anything else is a bug and keeps its traceback."""
import errno
import os
import re

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectionError as BotoConnectionError,
    CredentialRetrievalError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
    SSOError,
    TokenRetrievalError,
)

FAILURE, USAGE, NOT_FOUND, CREDENTIALS, NETWORK = 1, 2, 3, 4, 5

CREDENTIAL_FIX = ("Configure credentials: aws configure, aws sso login or AWS_PROFILE=<profile>; "
                  "for the local stack, export the environment `loraplane local up` prints")
# Error codes AWS answers for credentials it does not accept (expired, unknown, wrong signature).
CREDENTIAL_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId",
                              "UnrecognizedClientException", "InvalidSignatureException", "SignatureDoesNotMatch",
                              "AuthFailure"})
PATH_ERRORS = (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError)
STACK_MISSING = re.compile(r"Stack with id (?P<name>\S+) does not exist")


class CliError(Exception):
    """A failure the command explains itself: `what` and the `fix`, with its exit code."""
    exit_code = FAILURE

    def __init__(self, what: str, fix: str = ""):
        super().__init__(what)
        self.what, self.fix = what, fix


class NotFound(CliError):
    exit_code = NOT_FOUND


class Usage(CliError):
    """An argument that parses but cannot be used (a folder without config.json, a missing prompt)."""
    exit_code = USAGE


def line(what: str, fix: str = "") -> str:
    what, fix = " ".join(what.split()).rstrip("."), fix.rstrip(".")
    return f"error: {what}." + (f" {fix}." if fix else "")


def _endpoint_url(exc: Exception) -> str:
    from urllib.parse import urlparse

    url = urlparse(str(getattr(exc, "kwargs", {}).get("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL") or ""))
    return f"{url.scheme}://{url.netloc}" if url.netloc else ""


def _network(exc: Exception) -> tuple[str, str]:
    url = _endpoint_url(exc)
    if url and re.match(r"https?://(127\.0\.0\.1|localhost|\[::1\])[:/]", url):
        # AWS_ENDPOINT_URL points at this machine: the emulator is the usual thing not running.
        return (f"nothing answers at {url} (is the local stack running?)",
                "Start it with `loraplane local up` in another terminal, or unset AWS_ENDPOINT_URL to use AWS")
    return f"cannot reach {url or 'AWS'} ({type(exc).__name__})", "Check the network, a proxy, or AWS_ENDPOINT_URL"


def explain(exc: BaseException) -> tuple[int, str] | None:
    """(exit code, the line to print), or None for an exception that should keep its traceback."""
    if isinstance(exc, CliError):
        return exc.exit_code, line(exc.what, exc.fix)
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:  # emulator.local_aws.PortInUse, among others
        port = getattr(exc, "port", None)
        return NETWORK, line(str(exc), f"Pass another --port, or stop the process listening on {port or 'it'}"
                                       " (4566 is also LocalStack's port)")
    if isinstance(exc, PATH_ERRORS) and exc.filename:  # a path given on the command line, mistyped
        return USAGE, line(f"{exc.strerror or type(exc).__name__}: {exc.filename}",
                           "Check the path (relative paths start in the current directory)")
    if isinstance(exc, ParamValidationError):  # botocore refused a value before sending it (a length, a range)
        return USAGE, line(" ".join(str(exc).split()), "Fix the value it names")
    if isinstance(exc, NoRegionError):
        return CREDENTIALS, line("no AWS region configured",
                                 "Export AWS_DEFAULT_REGION=<region>, or run aws configure set region <region>")
    if isinstance(exc, ValueError) and re.match(r"Invalid endpoint: https://[\w-]+\.\.amazonaws", str(exc)):
        # botocore's answer to AWS_DEFAULT_REGION="" (set but empty)
        return CREDENTIALS, line("the AWS region is empty", "Export AWS_DEFAULT_REGION=<region>, or unset it")
    if isinstance(exc, ProfileNotFound):
        return CREDENTIALS, line(str(exc), "Fix AWS_PROFILE, or add the profile: aws configure --profile <name>")
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError, SSOError,
                        TokenRetrievalError)):
        return CREDENTIALS, line(f"no usable AWS credentials ({exc})", CREDENTIAL_FIX)
    if isinstance(exc, (BotoConnectionError, ConnectionClosedError, ReadTimeoutError)):
        return NETWORK, line(*_network(exc))
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code, message = err.get("Code", ""), err.get("Message", "")
        missing = STACK_MISSING.search(message)
        if missing:
            where = f" in {region()}" if region() else ""
            return NOT_FOUND, line(f"no stack {missing['name']}{where}",
                                   "Deploy it (sam deploy --guided, or `loraplane local up`), "
                                   "or pass --stack-name / set LORAPLANE_STACK")
        if code in CREDENTIAL_CODES:
            return CREDENTIALS, line(f"AWS refused the credentials ({code}: {message})", CREDENTIAL_FIX)
        if code in ("AccessDenied", "AccessDeniedException"):
            return FAILURE, line(f"{exc.operation_name}: {message or code}", "Ask for the permission it names")
        return FAILURE, line(f"{exc.operation_name} failed: {code}: {message}")
    return None


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ""


def run(handler, args) -> int:
    """The handler's own exit code, or the mapped one (printed to stderr) for an error the user can fix."""
    import sys

    try:
        return handler(args)
    except Exception as exc:  # noqa: BLE001 - explain() re-raises what it does not know
        explained = explain(exc)
        if explained is None:
            raise
        code, text = explained
        print(text, file=sys.stderr)
        return code
