"""An :class:`core.assistant.generator.AnswerGenerator` over an OpenAI-compatible chat API.

Works with any server that implements ``POST {base_url}/chat/completions`` (OpenAI, vLLM,
llama.cpp's server, Ollama's OpenAI endpoint, ...). The operator sets the URL; nothing is sent
anywhere unless they do. Registered through the ``packdesk`` entry points like every adapter:
its ``packdesk_answer_generator`` hook answers only when ``PACKDESK_GENERATOR_URL`` is set.
"""

from __future__ import annotations

from typing import Any

from core import GeneratorError, Passage, Settings, hookimpl

SYSTEM_PROMPT = (
    "You are a customer-service assistant. Answer the customer's question using only the "
    "numbered passages. If they do not contain the answer, say you do not know. Be concise: "
    "at most three sentences. End every sentence with the number of the passage it comes "
    "from in square brackets, like [1]."
)


class OpenAICompatibleGenerator:
    """Composes answers through ``/chat/completions``; every failure is a GeneratorError."""

    name = "openai-compatible"

    def __init__(
        self, base_url: str, *, model: str, api_key: str | None = None, timeout_s: float = 10.0
    ) -> None:
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._model = model
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout_s = timeout_s

    async def compose(self, question: str, passages: list[Passage]) -> str:
        import httpx

        numbered = "\n\n".join(
            f"[{number}] {passage.title}\n{passage.text}"
            for number, passage in enumerate(passages, start=1)
        )
        body = {
            "model": self._model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": f"Passages:\n{numbered}\n\nQuestion: {question}"},
            ],
        }
        try:
            async with httpx.AsyncClient(timeout=self._timeout_s) as client:
                response = await client.post(self._url, json=body, headers=self._headers)
                response.raise_for_status()
                payload: Any = response.json()
        except httpx.TimeoutException as exc:
            raise GeneratorError(f"generator timed out after {self._timeout_s}s") from exc
        except (httpx.HTTPError, ValueError) as exc:
            raise GeneratorError(f"generator request failed: {exc}") from exc
        try:
            text = payload["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise GeneratorError("generator answered without choices[0].message.content") from exc
        if not isinstance(text, str) or not text.strip():
            raise GeneratorError("generator answered with empty text")
        return text.strip()


@hookimpl
def packdesk_answer_generator(settings: Settings) -> OpenAICompatibleGenerator | None:
    """The generator at ``PACKDESK_GENERATOR_URL``, or None when none is configured."""
    if not settings.generator_url:
        return None
    api_key = settings.generator_api_key.get_secret_value() if settings.generator_api_key else None
    return OpenAICompatibleGenerator(
        settings.generator_url,
        model=settings.generator_model,
        api_key=api_key,
        timeout_s=settings.generator_timeout_s,
    )
