"""Model servers for backend tests: a real ``transformers serve`` process, and a scripted fault injector.

``ServeProcess`` runs the real OpenAI-compatible server of ``transformers`` on loopback, pinned to one
model directory, fully offline. ``FaultInjector`` is not a model server: it answers from a script (canned
streams, HTTP errors, or never answering at all) and records every request, so tests can prove the
paths a healthy local server never takes (retries, timeouts, headers, server-specific stream fields).
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def free_port() -> int:
    """A TCP port nothing listens on right now (loopback)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServeUnavailable(RuntimeError):
    """``transformers serve`` could not be started here."""


class ServeProcess:
    """``transformers serve MODEL_DIR`` on 127.0.0.1:PORT with HF_HUB_OFFLINE=1 and a private HF_HOME.

    HF_HOME gets an empty ``hub/`` folder: without it ``GET /v1/models`` answers 500. Clients must send
    the model directory as the model name (the server is pinned to it).
    """

    def __init__(self, model_dir: Path, work_dir: Path, port: int | None = None) -> None:
        self.model_dir = str(model_dir)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._work_dir = Path(work_dir)
        self._log_path = self._work_dir / f"serve-{self.port}.log"
        self._process: subprocess.Popen | None = None

    def start(self) -> ServeProcess:
        (self._work_dir / "hf_home" / "hub").mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(self._work_dir / "hf_home"),
                   TOKENIZERS_PARALLELISM="false")
        command = [sys.executable, "-c", "from transformers.cli.transformers import main; main()", "serve",
                   self.model_dir, "--host", "127.0.0.1", "--port", str(self.port)]
        with open(self._log_path, "wb") as log:
            self._process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def wait_ready(self, timeout: float = 90.0) -> ServeProcess:
        """Block until ``/health`` answers 200; raise ServeUnavailable with the log tail otherwise."""
        assert self._process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ServeUnavailable(f"transformers serve exited with {self._process.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1.0) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise ServeUnavailable(f"transformers serve gave no /health within {timeout:.0f} s: {self.log_tail()}")

    def log_tail(self, chars: int = 2000) -> str:
        return self._log_path.read_text(errors="replace")[-chars:] if self._log_path.exists() else ""

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        self._process = None


@dataclass
class Reply:
    """One scripted answer: an HTTP status with a JSON body, an SSE stream, or no answer at all."""

    status: int = 200
    json_body: dict | None = None
    sse_events: list[dict] = field(default_factory=list)
    done: bool = True  # end the stream with "data: [DONE]"
    hang: bool = False  # accept the request and never answer


def chunk(content: str | None = None, finish: str | None = None, usage: dict | None = None,
          **delta_fields: str) -> dict:
    """One chat.completion.chunk; ``delta_fields`` adds server-specific fields such as ``reasoning``."""
    delta = {k: v for k, v in dict(content=content, **delta_fields).items() if v is not None}
    return {"id": "scripted", "object": "chat.completion.chunk", "created": 0, "model": "scripted",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], "usage": usage}


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased (HTTP/1.1 clients may send either case)
    body: dict | None


class FaultInjector:
    """A scripted HTTP server speaking just enough of the OpenAI API (not a model server).

    ``GET /v1/models`` lists ``served``; ``POST /v1/chat/completions`` pops the next ``Reply`` from
    ``chat_replies`` (a default stream when the script is empty). Every request is kept in ``requests``.
    """

    def __init__(self, served: tuple[str, ...] = ("scripted-model",)) -> None:
        self.served = served
        self.models_reply: Reply | None = None
        self.chat_replies: list[Reply] = []
        self.requests: list[Recorded] = []
        self._release = threading.Event()
        injector = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                headers = {name.lower(): value for name, value in self.headers.items()}
                injector.requests.append(Recorded(self.command, self.path, headers, json.loads(raw) if raw else None))

            def do_GET(self) -> None:
                self._record()
                reply = injector.models_reply or Reply(json_body={
                    "object": "list", "data": [{"id": m, "object": "model", "created": 0, "owned_by": "test"}
                                               for m in injector.served]})
                self._answer(reply)

            def do_POST(self) -> None:
                self._record()
                default = Reply(sse_events=[chunk(content="<think>\nok\n</think>\n\n"), chunk(content="{}"),
                                            chunk(finish="stop")])
                self._answer(injector.chat_replies.pop(0) if injector.chat_replies else default)

            def _answer(self, reply: Reply) -> None:
                if reply.hang:
                    injector._release.wait()
                    return
                if reply.json_body is not None or not reply.sse_events:
                    data = json.dumps(reply.json_body or {}).encode()
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                lines = [f"data: {json.dumps(event)}\n\n" for event in reply.sse_events]
                data = ("".join(lines) + ("data: [DONE]\n\n" if reply.done else "")).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FaultInjector:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def posts(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST"]
