"""Local DynamoDB (and Secrets Manager) for tests and `make dev`.

moto's server speaks the DynamoDB wire API to the real AWS SDK, but stock `moto_server` serves
requests on several threads with no locking, so concurrent conditional writes race (21-28
"winners" of a 20-spot race were seen). Here every request runs behind one global lock: each
request sees the state that the one before it left, as DynamoDB guarantees for conditional writes
on an item. Connections are still accepted on many threads, so clients never queue at the socket.

moto's cost per request grows with the table: a Query looks at every item, and a transaction
backs up the whole table. Tests therefore give each case a fresh, small table.

Usage: python dynamodb_server.py --host 127.0.0.1 --port 8000
"""

import argparse
import logging
import signal
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


def serialised(app):
    """Wraps a WSGI app so that one request at a time runs, body included."""
    lock = threading.Lock()

    def locked_app(environ, start_response):
        with lock:
            result = app(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        return [body]

    return locked_app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()

    # One log line per request would drown the test output; errors still show.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = serialised(DomainDispatcherApplication(create_backend_app))
    print(f"local DynamoDB (moto, serialised) on http://{args.host}:{args.port}", flush=True)
    run_simple(
        args.host,
        args.port,
        app,
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
