"""The ML models page: the tenant's registry, with promote and retire for traders and up."""
from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from aitrader.errors import NotFound, ServiceError
from dashboard.views import _actor, member_required
from mlmodels import selectors as ml_selectors
from mlmodels import services as ml_services
from tenants.models import Scope


@member_required
def models_page(request: HttpRequest) -> HttpResponse:
    """Every model version with its metrics, status and staleness."""
    models = ml_selectors.mlmodel_list(tenant=request.tenant)
    return render(request, "dashboard/models.html", {
        "models": models, "can_control": _actor(request).can(Scope.CONTROL)})


def _lifecycle(request: HttpRequest, model_id: int, service: Callable, done: str
               ) -> HttpResponse:
    try:
        model = ml_selectors.mlmodel_get(tenant=request.tenant, model_id=model_id)
        service(tenant=request.tenant, actor=_actor(request), model_id=model.pk)
    except NotFound:
        raise Http404("No such model.") from None  # another tenant's: same as missing
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done.format(model=model))
    return redirect("dashboard:models")


@member_required
@require_POST
def model_promote(request: HttpRequest, model_id: int) -> HttpResponse:
    """Make a model the active one of its market; bots on ml_signal use it from now on."""
    return _lifecycle(request, model_id, ml_services.mlmodel_promote,
                      "{model} is now active for its market.")


@member_required
@require_POST
def model_retire(request: HttpRequest, model_id: int) -> HttpResponse:
    """Retire a model; bots that used it hold until another model is active."""
    return _lifecycle(request, model_id, ml_services.mlmodel_retire, "{model} is retired.")
