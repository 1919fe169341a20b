"""Locust entry point for LLM gateways: `locust -f load/locustfile.py --host URL --scenario NAME ...`.

Works as any locustfile does: web UI, headless (`--headless -u 50 -r 10 -t 2m`), several
processes (`--processes 4`), or several machines (`--master` here, `--worker --master-host H`
there, each with `-f load/locustfile.py`). `topapi load` runs it headless with the same options.
Options of its own: see `locust -f load/locustfile.py --help` (from --scenario on); the key comes from
--api-key or $TOPAPI_API_KEY.
"""

from load import run  # noqa: F401  (registers the event listeners)
from load.openloop import OpenLoopUser  # noqa: F401  (--rate: open-loop arrivals)
from load.users import (  # noqa: F401  (Locust collects the user classes from this module)
    ChatStreamUser,
    ChatUser,
    GeminiStreamUser,
    ImageUser,
    ResponsesStreamUser,
    VideoUser,
)
