"""The ML models page: the tenant's registry, with promote and retire for traders and up."""
from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from dashboard.post_only import post_only
from dashboard.views import member_required
from dashboard.web import member_actor, run_member_action
from mlmodels import selectors as ml_selectors
from mlmodels import services as ml_services
from tenants.models import Scope


@member_required
def models_page(request: HttpRequest) -> HttpResponse:
    """Every model version with its metrics, status and staleness."""
    models = ml_selectors.mlmodel_list(tenant=request.tenant)
    return render(request, "dashboard/models.html", {
        "models": models, "can_control": member_actor(request).can(Scope.CONTROL)})


def _lifecycle(request: HttpRequest, model_id: int, service: Callable, done: str
               ) -> HttpResponse:
    run_member_action(request, service, model_id=model_id,
                      success=lambda model: done.format(model=model))
    return redirect("dashboard:models")


@member_required
@post_only("dashboard:models")
def model_promote(request: HttpRequest, model_id: int) -> HttpResponse:
    """Make a model the active one of its market; bots on ml_signal use it from now on."""
    return _lifecycle(request, model_id, ml_services.mlmodel_promote,
                      "{model} is now active for its market.")


@member_required
@post_only("dashboard:models")
def model_retire(request: HttpRequest, model_id: int) -> HttpResponse:
    """Retire a model; bots that used it hold until another model is active."""
    return _lifecycle(request, model_id, ml_services.mlmodel_retire, "{model} is retired.")
