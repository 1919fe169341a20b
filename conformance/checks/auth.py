"""The five ways to carry the key (WIRE.md "Authentication"), each on a route where it applies."""

from __future__ import annotations

from ..context import Ctx
from ..registry import CheckFailed, Sub, check
from .gemini import PREFIXES

# form -> (route, dialect); x-goog-api-key and ?key= are Gemini forms
FORMS = {
    "bare": ("/v1/models", "openai"),
    "bearer": ("/v1/models", "openai"),
    "x-api-key": ("/v1/models", "openai"),
    "x-goog-api-key": (f"{PREFIXES[0]}/models", "gemini"),
    "query": (f"{PREFIXES[0]}/models", "gemini"),
}
WRONG_KEY = "sk-topapi-check-not-a-key"


@check("auth.forms", "Each key form works where it applies (Authorization bare/Bearer and x-api-key on OpenAI "
       "routes, x-goog-api-key and ?key= on Gemini routes); a wrong key in the same form is refused with 401")
def auth_forms(ctx: Ctx) -> list[Sub]:
    subs = []
    for form, (path, dialect) in FORMS.items():
        try:
            r = ctx.get(path, auth=form)
            ctx.expect(r.status_code == 200, f"the key as {form} on GET {path}: HTTP {r.status_code}, expected 200: "
                       f"{r.text[:160]}")
            schema = ("openai", "ModelList") if dialect == "openai" else ("gemini", "ListModelsResponse")
            ctx.valid(*schema, ctx.json_of(r, f"GET {path}"), f"GET {path} with the key as {form}")
            # the form is really read: the same form with a wrong key is refused
            bad = ctx.get(path, auth=form, key=WRONG_KEY)
            err = ctx.openai_error if dialect == "openai" else ctx.gemini_error
            err(bad, 401, f"a wrong key as {form} on GET {path}")
            subs.append(Sub(form, True))
        except CheckFailed as exc:
            subs.append(Sub(form, False, str(exc)))
    return subs
