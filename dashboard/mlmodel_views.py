"""The ML models page: the tenant's registry, a Train form, and promote and retire, for
traders and up. `?model=<id>` opens one model's card: its training progress (live), then its
evaluation and Promote."""
from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from aitrader.errors import Forbidden, NotFound, ServiceError
from dashboard.mlmodel_forms import TrainModelForm
from dashboard.post_only import post_only
from dashboard.views import _form_error, member_required
from dashboard.web import member_actor, run_member_action
from mlmodels import selectors as ml_selectors
from mlmodels import services as ml_services
from mlmodels.models import MLModel
from tenants.models import Scope


@member_required
def models_page(request: HttpRequest) -> HttpResponse:
    """Every model version with its metrics, status and staleness; the Train form."""
    return _render(request, TrainModelForm())


def _render(request: HttpRequest, form: TrainModelForm, status: int = 200) -> HttpResponse:
    can_control = member_actor(request).can(Scope.CONTROL)
    return render(request, "dashboard/models.html", {
        "models": ml_selectors.mlmodel_list(tenant=request.tenant), "can_control": can_control,
        "train_form": form if can_control else None, "focus": _focus(request)}, status=status)


def _focus(request: HttpRequest) -> MLModel | None:
    """The model `?model=` names; another tenant's (or nonsense) is a 404."""
    raw = request.GET.get("model")
    if raw is None:
        return None
    try:
        return ml_selectors.mlmodel_get(tenant=request.tenant, model_id=int(raw))
    except (ValueError, NotFound):
        raise Http404("No such model.") from None


@member_required
@post_only("dashboard:models")
def model_train(request: HttpRequest) -> HttpResponse:
    """Queue a training on the market's stored history (the API's task) and open its card,
    where the epochs arrive over the live feed."""
    try:
        member_actor(request).require(Scope.CONTROL)  # a viewer gets the reason, not a form
    except Forbidden as exc:
        messages.error(request, exc.message)
        return redirect("dashboard:models")
    form = TrainModelForm(request.POST)
    if not form.is_valid():
        return _render(request, form)
    try:
        model = ml_services.mlmodel_train_stored(tenant=request.tenant,
                                                 actor=member_actor(request),
                                                 **form.training_request())
    except ServiceError as exc:
        _form_error(form, exc)
        return _render(request, form)
    messages.success(request, f"Training {model.symbol} {model.timeframe} v{model.version}; "
                              f"its progress shows below.")
    return redirect(f"{reverse('dashboard:models')}?model={model.pk}")


def _lifecycle(request: HttpRequest, model_id: int, service: Callable, done: str
               ) -> HttpResponse:
    run_member_action(request, service, model_id=model_id,
                      success=lambda model: done.format(model=model))
    # Back to the model's card (run_member_action has 404ed another tenant's model by now).
    return redirect(f"{reverse('dashboard:models')}?model={model_id}")


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
