"""Deterministic OpenAI, Gemini and Sora upstream mocks (see ../shared/docs/MOCKS.md).

`openai_app`, `gemini_app`, `sora_app` build ASGI servers; `mocks.offline` routes httpx
requests to them in-process through respx; `topapi mock ...` serves them on ports.
"""

from .settings import Fault, Settings

__all__ = ["Fault", "Settings"]
