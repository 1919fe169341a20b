"""Models each mock knows. An unknown model gets the upstream's 404, as the real APIs answer."""

from __future__ import annotations

# OpenAI-style: id -> kind (chat models also serve the Responses API)
OPENAI_MODELS: dict[str, str] = {
    "gpt-4.1-mini": "chat",
    "gpt-4.1": "chat",
    "gpt-4.1-nano": "chat",
    "gpt-4o": "chat",
    "gpt-4o-mini": "chat",
    "gpt-5": "chat",
    "gpt-5-mini": "chat",
    "o4-mini": "chat",
    "gpt-image-1": "image",
    "gpt-image-1-mini": "image",
    "dall-e-3": "image",
    "sora-2": "video",
    "sora-2-pro": "video",
}

OWNER = "openai"


def openai_kind(model: str) -> str | None:
    return OPENAI_MODELS.get(model)
