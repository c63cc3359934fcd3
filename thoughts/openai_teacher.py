"""An OpenAI-compatible chat endpoint as rationale teacher (`make_teacher("openai:MODEL", base_url=...)`),
over the standard library's urllib: no client package needed."""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from thoughts.teacher import TeacherError, clean_thought, rationale_prompt

log = logging.getLogger(__name__)


class OpenAITeacher:
    """An OpenAI-compatible chat endpoint as teacher: POST {base_url}/chat/completions.

    `base_url` includes the version prefix (e.g. http://localhost:8000/v1).  The API key is read
    from `api_key` or the environment variable `api_key_env`.  Connection errors, timeouts, 429
    and 5xx replies are retried with exponential backoff; other errors raise `TeacherError`."""

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None,
                 api_key_env: str = "OPENAI_API_KEY", timeout: float = 60.0, retries: int = 3,
                 backoff: float = 1.0, max_tokens: int = 128, temperature: float = 0.0,
                 concurrency: int = 4) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"OpenAITeacher: base_url must start with http:// or https://, got {base_url!r}")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.name = f"openai:{model}"
        self.api_key = api_key if api_key is not None else os.environ.get(api_key_env, "")
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.max_tokens, self.temperature, self.concurrency = max_tokens, temperature, max(1, concurrency)

    def _request(self, body: dict[str, Any]) -> dict[str, Any]:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            req = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return json.loads(resp.read().decode("utf-8"))
            except urllib.error.HTTPError as e:
                detail = e.read().decode("utf-8", "replace")[:300]
                last = f"HTTP {e.code} from {self.url}: {detail}"
                if e.code != 429 and e.code < 500:
                    raise TeacherError(last) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
                last = f"cannot reach {self.url}: {getattr(e, 'reason', e)}"
            except json.JSONDecodeError:
                last = f"reply from {self.url} is not JSON"
            log.warning("teacher request failed (attempt %d/%d): %s", attempt + 1, self.retries + 1, last)
        raise TeacherError(f"{last} (after {self.retries + 1} attempts)")

    def explain(self, state: str, tactic: str) -> str:
        body = {"model": self.model, "max_tokens": self.max_tokens, "temperature": self.temperature,
                "messages": [{"role": "system", "content": "You explain Lean 4 proof steps."},
                             {"role": "user", "content": rationale_prompt(state, tactic)}]}
        reply = self._request(body)
        try:
            content = reply["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise TeacherError(f"unexpected reply shape from {self.url}: {str(reply)[:200]}") from None
        return clean_thought(content or "")

    def explain_batch(self, items: Sequence[tuple[str, str]]) -> list[str]:
        with ThreadPoolExecutor(self.concurrency) as ex:
            return list(ex.map(lambda it: self.explain(*it), items))
