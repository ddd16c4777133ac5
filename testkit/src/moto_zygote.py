"""moto servers forked from one warm process: the test kit's `Emulator::start`.

A fresh `moto_server` spends about 1.5 CPU-seconds importing moto and setting up
its backends before it answers; a test suite starts one per test. This process
does that once, then forks a server per request: about 0.25 s each.

Protocol: one port per line on stdin; one line back on stdout, the pid of the
server now starting on that port. At end of input (the test process ended, even
by a crash) every server it forked is killed.
"""
import os
import signal
import sys

from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

# The services the tests talk to; any other is still created on its first request.
SERVICES = ["moto_api", "ec2", "cloudwatch", "logs", "events", "sqs", "sns"]


def warm():
    app = DomainDispatcherApplication(create_backend_app)
    for service in SERVICES:
        app.app_instances[service] = create_backend_app(service)
    # The EC2 backend of the default account and region: instance types, AMIs.
    from moto.ec2.models import ec2_backends

    ec2_backends["123456789012"]["us-east-1"]
    return app


def serve(app, port):
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.environ["MOTO_PORT"] = str(port)
    run_simple("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)


def main():
    app = warm()
    # Forked servers are reaped by the kernel: no zombies when a test kills one.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    servers = []
    for line in sys.stdin:
        port = int(line)
        pid = os.fork()
        if pid == 0:
            try:
                serve(app, port)
            finally:
                os._exit(0)
        servers.append(pid)
        print(pid, flush=True)
    for pid in servers:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


if __name__ == "__main__":
    main()
