"""The OpenAI-compatible generator against a fake chat-completions server on loopback."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core.assistant.generator import Passage
from core.errors import GeneratorError
from plugins.openai_generator import OpenAICompatibleGenerator


class FakeChatServer:
    """Answers POST /v1/chat/completions as ``mode`` says: ok, error, slow or garbage."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "body": body,
                                        "auth": self.headers.get("Authorization")})
                if server.mode == "slow":
                    time.sleep(1.0)
                if server.mode == "error":
                    self.send_response(500)
                    self.end_headers()
                    return
                payload = (
                    {"choices": [{"message": {"role": "assistant",
                                              "content": "GENERATED: puppies need boosters."}}]}
                    if server.mode in ("ok", "slow")
                    else {"unexpected": True}
                )
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except BrokenPipeError:
                    pass  # the client gave up (the timeout test): nothing to answer

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeChatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def chat_server() -> Iterator[FakeChatServer]:
    with FakeChatServer() as server:
        yield server


PASSAGES = [Passage(pack_id="pets", document_id="d1", title="Vaccines", text="Boosters...")]


async def test_composes_from_the_passages(chat_server: FakeChatServer) -> None:
    generator = OpenAICompatibleGenerator(chat_server.url, model="m", api_key="sk-local")
    text = await generator.compose("Which vaccines?", PASSAGES)
    assert text == "GENERATED: puppies need boosters."
    request = chat_server.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["auth"] == "Bearer sk-local"
    assert "Boosters..." in request["body"]["messages"][1]["content"]
    assert "Which vaccines?" in request["body"]["messages"][1]["content"]


@pytest.mark.parametrize("mode", ["error", "garbage"])
async def test_failures_are_generator_errors(chat_server: FakeChatServer, mode: str) -> None:
    chat_server.mode = mode
    with pytest.raises(GeneratorError):
        await OpenAICompatibleGenerator(chat_server.url, model="m").compose("q", PASSAGES)


async def test_timeout_is_a_generator_error(chat_server: FakeChatServer) -> None:
    chat_server.mode = "slow"
    generator = OpenAICompatibleGenerator(chat_server.url, model="m", timeout_s=0.2)
    with pytest.raises(GeneratorError, match="timed out"):
        await generator.compose("q", PASSAGES)
