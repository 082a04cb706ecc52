"""amlid scoring harness: serves an Azure ML scoring script over HTTP.

amlid (package internal/runtime) starts one of these per deployment instance:

    python3 -u harness.py LISTEN_FD STATUS_FD LIFELINE_FD CODE_DIR SCRIPT

It behaves like Azure ML's inference server (azureml-inference-server-http)
for a scoring script without schema decorators: it imports SCRIPT (relative to
CODE_DIR) as a module, calls init() once, then serves

    GET  /        liveness: 200 "Healthy"
    POST /score   run(raw_data) with the request body decoded as UTF-8 text;
                  the result is answered JSON-encoded (json.dumps, a str too),
                  None as {}; an exception in run() answers 500 with its
                  message

Only the standard library is used. The Go side owns the process:

    LISTEN_FD    a listening TCP socket on 127.0.0.1 (the port stays the same
                 across restarts of the instance)
    STATUS_FD    a pipe: one JSON line, {"event": "ready"} once init() returned
                 or {"event": "failed", "error": "<last line of the exception>"}
    LIFELINE_FD  a pipe amlid never writes to: end of file means amlid is gone,
                 and the harness then stops its whole process group

Nothing here prints the environment: MSI_SECRET and the endpoint path stay out
of the logs (the Go side also redacts them from whatever the script prints).
"""

import hmac
import http.server
import importlib.util
import inspect
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import traceback

LOG_FORMAT = "%(asctime)s %(levelname).1s [%(process)d] %(name)s - %(message)s"

log = logging.getLogger("azmlinfsrv")
user_log = logging.getLogger("azmlinfsrv.user_script")


def last_line(exc):
    """The last line of a Python exception, as a traceback ends."""
    lines = traceback.format_exception_only(type(exc), exc)
    return lines[-1].strip() if lines else type(exc).__name__


def http_details(exc):
    """What an HTTP error's response said (requests' HTTPError, azure-core's
    HttpResponseError): the status line only names the status, while the
    service's error code is in the x-ms-error-code header and the body. None
    for other exceptions."""
    resp = getattr(exc, "response", None)
    if resp is None:
        return None
    status = getattr(resp, "status_code", None)
    headers = getattr(resp, "headers", None) or {}
    code = headers.get("x-ms-error-code") if hasattr(headers, "get") else None
    text = ""
    try:
        text = resp.text() if callable(getattr(resp, "text", None)) else (resp.text or "")
    except Exception:
        pass
    text = " ".join(str(text).split())[:500]
    return f"HTTP {status} x-ms-error-code: {code or '-'}; response body: {text}"


def exit_now(code):
    """Exit without waiting for threads the scoring script may have started."""
    try:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


TOKEN_HEADER = "X-Amlid-Harness-Token"


def read_token(fd):
    """Reads the line amlid writes first on the lifeline: the token its
    requests carry (not in the environment, where other processes of the
    machine could read it)."""
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = os.read(fd, 1)
        if not chunk:
            exit_now(0)  # amlid went away before starting us
        buf += chunk
        if len(buf) > 256:
            exit_now(2)
    return buf.strip().decode("ascii")


def watch_lifeline(fd):
    """Stops the process group when amlid goes away (the pipe's write end closes)."""
    try:
        while os.read(fd, 4096):
            pass
    except OSError:
        pass
    log.warning("amlid went away: stopping the scoring server")
    try:
        os.killpg(os.getpgrp(), signal.SIGTERM)
    finally:
        exit_now(0)


def close_inherited(lowest):
    """Closes descriptors amlid's own parent leaked into it and it into us.

    Python creates every descriptor non-inheritable (PEP 446), so an
    inheritable one above the harness's own was inherited."""
    try:
        fds = [int(f) for f in os.listdir("/proc/self/fd")]
    except OSError:
        return
    for fd in fds:
        if fd >= lowest:
            try:
                if os.get_inheritable(fd):
                    os.close(fd)
            except OSError:
                pass


def load_script(code_dir, script):
    path = os.path.join(code_dir, script)
    name = os.path.splitext(os.path.basename(script))[0]
    if not name.isidentifier():
        name = "score"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the scoring script {script}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    for fn in ("init", "run"):
        if not callable(getattr(module, fn, None)):
            raise AttributeError(
                f"the scoring script {script} defines no {fn}() function "
                "(Azure ML calls init() once, then run(raw_data) per request)"
            )
    return module


class Scorer:
    def __init__(self, module):
        self.run = module.run
        self.lock = threading.Lock()  # one run() at a time per instance, as Azure's single worker
        try:
            params = inspect.signature(self.run).parameters
        except (TypeError, ValueError):
            params = {}
        self.wants_headers = "request_headers" in params


def make_handler(scorer, token):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall
        server_version = "amlid-scoring/1"
        sys_version = ""

        def log_message(self, fmt, *args):  # requests are logged by score()
            pass

        def reply(self, status, body, content_type, extra=None):
            data = body.encode("utf-8") if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if path == "/":
                self.reply(200, "Healthy", "text/plain; charset=utf-8")
            else:
                self.reply(404, "Not found: POST /score runs the scoring script", "text/plain; charset=utf-8")

        do_HEAD = do_GET

        def do_POST(self):
            path = self.path.split("?", 1)[0]
            # Only amlid may call the harness: its port is on the machine's
            # loopback, where other workloads run too.
            given = self.headers.get(TOKEN_HEADER, "")
            if not hmac.compare_digest(given.encode("utf-8", "replace"), token.encode("ascii")):
                self.close_connection = True
                length = self.headers.get("Content-Length", "")
                if length.isdigit() and int(length) <= 1 << 20:
                    self.drain()  # so the close does not reset the connection before the answer is read
                self.reply(403, "Forbidden: score through the endpoint's scoring URI", "text/plain; charset=utf-8", {"Connection": "close"})
                return
            if path != "/score":
                self.drain()
                self.reply(404, "Not found: POST /score runs the scoring script", "text/plain; charset=utf-8")
                return
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                self.close_connection = True
                self.reply(411, "Content-Length is required", "text/plain; charset=utf-8")
                return
            raw = self.rfile.read(int(length))
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                self.reply(400, f"The request body is not UTF-8 text: {e}", "text/plain; charset=utf-8")
                return
            self.score(text)

        def drain(self):
            length = self.headers.get("Content-Length")
            if length and length.isdigit():
                self.rfile.read(int(length))

        def score(self, text):
            failed = False
            with scorer.lock:
                start = time.perf_counter()
                try:
                    if scorer.wants_headers:
                        result = scorer.run(text, request_headers=dict(self.headers))
                    else:
                        result = scorer.run(text)
                except BaseException as e:  # as Azure: 500 with the exception's message
                    failed = True
                    log.error("Encountered Exception: %s", traceback.format_exc().rstrip())
                    body, ctype, status = str(e), "text/plain; charset=utf-8", 500
                took = (time.perf_counter() - start) * 1000
            if not failed:
                if isinstance(result, dict) and "aml_response_body" in result:
                    result = result["aml_response_body"]
                try:
                    body = json.dumps({} if result is None else result)
                    ctype, status = "application/json", 200
                except Exception as e:
                    failed = True
                    log.error("Encountered Exception: %s", traceback.format_exc().rstrip())
                    body = f"An unexpected internal error occurred. run() returned a value that is not JSON serializable: {last_line(e)}"
                    ctype, status = "text/plain; charset=utf-8", 500
            log.info("POST /score %d %.3f ms", status, took)
            self.reply(status, body, ctype, {
                "x-ms-run-function-failed": "True" if failed else "False",
                "x-ms-run-fn-exec-ms": f"{took:.3f}",
            })

    return Handler


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        log.warning("connection error: %s", last_line(sys.exc_info()[1]))


def main():
    if len(sys.argv) != 6:
        sys.stderr.write("usage: harness.py LISTEN_FD STATUS_FD LIFELINE_FD CODE_DIR SCRIPT\n")
        os._exit(2)
    listen_fd, status_fd, lifeline_fd = (int(a) for a in sys.argv[1:4])
    code_dir, script = sys.argv[4], sys.argv[5]
    for fd in (listen_fd, status_fd, lifeline_fd):
        os.set_inheritable(fd, False)  # the scoring script's subprocesses get none of them
    close_inherited(max(listen_fd, status_fd, lifeline_fd) + 1)
    status = os.fdopen(status_fd, "w", buffering=1)

    def report(event, **kw):
        try:
            status.write(json.dumps(dict(event=event, **kw)) + "\n")
            status.close()
        except OSError:
            pass

    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    token = read_token(lifeline_fd)
    threading.Thread(target=watch_lifeline, args=(lifeline_fd,), name="amlid-lifeline", daemon=True).start()

    script_path = os.path.join(code_dir, script)
    sys.argv = [script_path]
    for d in (os.path.dirname(os.path.abspath(script_path)), os.path.abspath(code_dir)):
        if d not in sys.path:
            sys.path.insert(0, d)
    try:
        user_log.info("Found user script at %s", script_path)
        module = load_script(code_dir, script)
        user_log.info("run() is not decorated. Server will invoke it with the input in JSON string.")
        user_log.info("Invoking user's init function")
        module.init()
        user_log.info("Users's init has completed successfully")
    except BaseException as e:  # SystemExit and KeyboardInterrupt in init() fail it too
        user_log.error("User's init function failed")
        user_log.error("Encountered Exception %s", traceback.format_exc().rstrip())
        details = http_details(e)
        if details:
            user_log.error("The failed request's response: %s", details)
        report("failed", error=last_line(e) + (" (" + details.split(";")[0] + ")" if details else ""))
        exit_now(1)

    sock = socket.socket(fileno=listen_fd)
    sock.setblocking(True)
    server = Server(("127.0.0.1", 0), make_handler(Scorer(module), token), bind_and_activate=False)
    server.socket.close()
    server.socket = sock
    server.server_address = sock.getsockname()
    # The Go side waits for this line before it calls the deployment ready,
    # so that what init() printed is in the log by then.
    log.info("Worker with pid %d ready for serving traffic", os.getpid())
    report("ready", pid=os.getpid())
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        exit_now(0)


if __name__ == "__main__":
    main()
