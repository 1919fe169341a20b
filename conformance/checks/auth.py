"""The five ways to carry the key (WIRE.md "Authentication"), each on a route where it applies. This check
alone judges the forms: every other check uses the form the target was found to accept.

Which forms are required follows the surfaces: `Authorization: Bearer` with the OpenAI surfaces,
`x-goog-api-key` and `?key=` with Gemini (both official), the bare `Authorization: <key>` and
`x-api-key` with the usage guide's forms (`topapi`)."""

from __future__ import annotations

from ..context import Ctx
from ..registry import Case, Sub, cases, check
from ..surfaces import FORM_SURFACE
from . import gemini
from .gemini import OFFICIAL

# form -> (route, dialect); x-goog-api-key and ?key= are Gemini forms
FORMS = {
    "bare": ("/v1/models", "openai"),
    "bearer": ("/v1/models", "openai"),
    "x-api-key": ("/v1/models", "openai"),
    "x-goog-api-key": (f"{OFFICIAL}/models", "gemini"),
    "query": (f"{OFFICIAL}/models", "gemini"),
}
WRONG_KEY = "sk-topapi-check-not-a-key"


def _form(ctx: Ctx, form: str, path: str, dialect: str) -> None:
    method, body, schema = "GET", None, ("openai", "ModelList") if dialect == "openai" else (
        "gemini", "ListModelsResponse")
    r = ctx.get(path, auth=form)
    if dialect == "gemini" and r.status_code in (404, 405):
        # no model list (gemini.models judges that): the form on a one-token generation instead
        ctx.setup("setup.gemini")
        method, path = "POST", gemini.path(ctx, "generateContent")
        body, schema = {**gemini.body("hi"), "generationConfig": {"maxOutputTokens": 1}}, (
            "gemini", "GenerateContentResponse")
        r = ctx.request(method, path, json=body, auth=form)
    ctx.expect(r.status_code == 200, f"the key as {form} on {method} {path}: HTTP {r.status_code}, expected 200: "
               f"{r.text[:160]}")
    ctx.valid(*schema, ctx.json_of(r, f"{method} {path}"), f"{method} {path} with the key as {form}")
    # the form is really read: the same form with a wrong key is refused
    bad = ctx.request(method, path, json=body, auth=form, key=WRONG_KEY)
    err = ctx.openai_error if dialect == "openai" else ctx.gemini_error
    err(bad, 401, f"a wrong key as {form} on {method} {path}")


@check("auth.forms", "Each key form works where it applies (Authorization Bearer on OpenAI routes, x-goog-api-key "
       "and ?key= on Gemini routes; with the guide's forms also the bare Authorization and x-api-key); a wrong key "
       "in the same form is refused with 401")
def auth_forms(ctx: Ctx) -> list[Sub]:
    return cases(ctx, [Case(form, lambda f=form, p=path, d=dialect: _form(ctx, f, p, d), surface=FORM_SURFACE[form])
                       for form, (path, dialect) in FORMS.items()])
