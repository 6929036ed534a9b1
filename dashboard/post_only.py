"""POST-only page actions that send a GET back to the page holding their form.

A form's action URL can be opened with GET: the login redirect after a session ran out
(`?next=/bots/new/`), a reload of a refused form's address, a bookmark. Django's
`require_POST` answers those with a bare 405; a person should land on the page instead.
Only GET and HEAD are sent back (they change nothing); any other method is still a 405.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect


def post_only(page: str, *, kwargs: tuple[str, ...] = (),
              check: Callable[[HttpRequest, dict], object] | None = None) -> Callable:
    """Like `require_POST`, but GET/HEAD redirect to the URL named `page`.

    `kwargs` names the URL arguments passed on to `page` (e.g. ("bot_id",)); `check` runs
    before redirecting a GET, so another tenant's object is still a 404 (it raises Http404).
    """
    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **view_kwargs) -> HttpResponse:
            if request.method == "POST":
                return view(request, *args, **view_kwargs)
            if request.method in ("GET", "HEAD"):
                if check is not None:
                    check(request, view_kwargs)
                return redirect(page, **{name: view_kwargs[name] for name in kwargs})
            return HttpResponseNotAllowed(["POST"])
        return wrapper
    return decorator
