"""The seed's requests (../shared/seed/topapi-usage.zh.md), byte for byte as written there.

The usage guide of the gateway this toolkit is for: every request in it must work as written,
so the conformance checks, the tests and the load scenarios all send these exact bodies.
Paths are appended to the gateway root as written (note the `//` of the image edit).
Video ids in the guide are examples: `with_video_id()` puts a real job id in their place.
tests/test_seed.py checks that this file still matches the guide.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import orjson

_VIDEO_ID = re.compile(r"video_[0-9a-f]+")


@dataclass(frozen=True)
class SeedRequest:
    name: str
    method: str
    path: str
    body: str | None  # the JSON text as written, or None

    def json(self) -> dict | None:
        return orjson.loads(self.body) if self.body is not None else None

    def with_video_id(self, video_id: str) -> str:
        """The path with the guide's example video id replaced by a real one."""
        return _VIDEO_ID.sub(video_id, self.path)


GET_MODEL_LIST = SeedRequest("get_model_list", "POST", "/v1/getModelList", None)

MODELS = SeedRequest("models", "GET", "/v1/models", None)

CHAT = SeedRequest(
    "chat",
    "POST",
    "/v1/chat/completions",
    """{
  "model": "gpt-4.1-mini",
  "stream":false,
  "messages": [
    {
      "role": "system",
      "content": "你现在是一名策略产品经理，你擅长进行市场研究和竞品分析，以制定产品策略。"
    },
    {
      "role": "user",
      "content": "帮我计算1+5等于多少"
    }
  ],
  "temperature": 1,
  "top_p": 1
}""",
)

RESPONSES_MODELS = SeedRequest("responses_models", "GET", "/responses/v1/models", None)

RESPONSES = SeedRequest(
    "responses",
    "POST",
    "/responses/v1/responses",
    """{
  "model": "gpt-4.1-mini",
  "stream":false,
  "input": [
    {
      "role": "system",
      "content": "你现在是一名策略产品经理，你擅长进行市场研究和竞品分析，以制定产品策略。"
    },
    {
      "role": "user",
      "content": "帮我计算1+5等于多少"
    }
  ],
  "temperature": 1,
  "top_p": 1
}""",
)

GEMINI_MODELS = SeedRequest("gemini_models", "GET", "/gemini/v1beta/models", None)

GEMINI_STREAM = SeedRequest(
    "gemini_stream",
    "POST",
    "/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent",
    """{
    "stream":false,
    "alt":"sse",
    "generationConfig": {
        "maxOutputTokens": 1024,
        "temperature": 0.7
    },
    "contents": [{
        "role": "user",
        "parts":[{"text": "Write a story about a magic backpack."}]
    }]
}""",
)

IMAGE_GENERATION = SeedRequest(
    "image_generation",
    "POST",
    "/v1/images/generations",
    """{
  "model": "gpt-image-1",
  "prompt": "一只黄色的猫咪",
  "n": 1,
  "size": "1024x1024",
  "quality": "low",
  "stream": false
}""",
)

IMAGE_EDIT = SeedRequest(
    "image_edit",
    "POST",
    "//v1/images/edits",
    """{
	"model": "gpt-image-1",
	"image": "iVBORw0KGgoAAAANSUhEUgAAAGQAAABkCAIAAAD/gAIDAAABCElEQVR4nO3cQQnDQBBA0W6phdiKnypYPxVSIzURByH/sITCewKG5TPHYcf8/h5c87z7Af9ErECsQKxArECsQKxArECsQKxArECsQKxArECsQKxArECsQKxArECsQKxArECsQKxArECsQKxArOC1bvT7s60bfm7uS06DbFYgViBWIFYgViBWIFYgViBWIFYgViBWIFYgViBWIFYgViBWIFYgViBWIFYgViBWIFYgViBWIFYgViBWIFYgViBWIFYgViBWIFYgViBWIFYwfL15nc0KxArECsQKxArECsQKxArECsQKxArECsQKxArECsQKxArECsQKxArECsQKxArECsQKxArECsQKDkU2CElYzAluAAAAAElFTkSuQmCC",
	"prompt": "把图片中的猫变成一只狮子",
	"n": 1,
	"size": "1024x1024",
	"stream": false
}""",
)

VIDEO_CREATE = SeedRequest(
    "video_create",
    "POST",
    "/v1/videos",
    """{
  "model": "sora-2",
  "prompt": "一只猫咪在打球",
  "duration": 5,
  "resolution": "480p",
  "fps": 30
}""",
)

VIDEO_RETRIEVE = SeedRequest(
    "video_retrieve", "GET", "/v1/videos/video_6936d4257f448190b25f416589f80f38", None
)

VIDEO_CONTENT = SeedRequest(
    "video_content", "POST", "/v1/videos/video_69329731702481909eea785f9cf4a858/content", None
)

VIDEO_REMIX = SeedRequest(
    "video_remix",
    "POST",
    "/v1/videos/video_695225f1737481908092ce451591a639030798c1ce683644/remix",
    """{
    "prompt":"猫咪改成老虎"
}""",
)

RESPONSES_TOOL_CALL = SeedRequest(
    "responses_tool_call",
    "POST",
    "/responses/v1/responses",
    """{
  "model": "gpt-4.1-mini",
  "stream":false,
  "input": [
    {
      "role": "system",
      "content": "你现在是一名策略产品经理，你擅长进行市场研究和竞品分析，以制定产品策略。"
    },
    {
      "role": "user",
      "content": "帮我计算1+5等于多少"
    }
  ],
  "temperature": 1,
  "top_p": 1,
  "tools": [
    {
        "name":"calc",
      "type": "function",
      "function": {
        "name": "calc",
        "description": "计算数学表达式",
        "parameters": {
          "type": "object",
          "properties": {
            "expr": { "type": "string" }
          },
          "required": ["expr"]
        }
      }
    }
  ]
}""",
)

RESPONSES_MULTIMODAL = SeedRequest(
    "responses_multimodal",
    "POST",
    "/responses/v1/responses",
    """{
  "model": "gpt-4.1-mini",
  "stream":false,
  "input": [
  {
    "role": "user",
    "content": [
      { "type": "input_text", "text": "这张图里有什么？" },
      {
        "type": "input_image",
        "image_url": "https://picsum.photos/200/200"
      }
    ]
   }
  ],
  "temperature": 1,
  "top_p": 1
}""",
)

ALL: tuple[SeedRequest, ...] = (
    GET_MODEL_LIST,
    MODELS,
    CHAT,
    RESPONSES_MODELS,
    RESPONSES,
    GEMINI_MODELS,
    GEMINI_STREAM,
    IMAGE_GENERATION,
    IMAGE_EDIT,
    VIDEO_CREATE,
    VIDEO_RETRIEVE,
    VIDEO_CONTENT,
    VIDEO_REMIX,
    RESPONSES_TOOL_CALL,
    RESPONSES_MULTIMODAL,
)
BY_NAME = {r.name: r for r in ALL}
AUTH_HEADER = "Authorization"  # the seed sends the key bare, without "Bearer"
