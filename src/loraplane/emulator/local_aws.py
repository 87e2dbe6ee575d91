"""The emulator's fixed identity (one account, one region, dummy credentials) and local ports."""
import errno
import socket

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


class PortInUse(OSError):
    def __init__(self, host: str, port: int, reason: str = "in use"):
        super().__init__(errno.EADDRINUSE, f"port {port} on {host} is {reason}")
        self.host, self.port = host, port

    def __str__(self) -> str:
        return self.strerror


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_port_free(host: str, port: int) -> None:
    """Raises PortInUse now: moto's threaded server would wait forever for a bind that failed in its thread.
    SO_REUSEADDR as the server sets it, so a port that only has connections in TIME_WAIT counts as free."""
    if not 0 < port < 65536:
        raise PortInUse(host, port, "not a TCP port (1-65535)")
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except PermissionError:
            raise PortInUse(host, port, "reserved (binding it needs privileges)") from None
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise PortInUse(host, port) from None
            raise
