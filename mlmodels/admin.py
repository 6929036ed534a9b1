"""Staff view of the model registry, with promote and retire actions (through the services)."""
from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from aitrader.errors import ServiceError
from mlmodels.models import MLModel
from mlmodels.services import mlmodel_promote, mlmodel_retire
from tenants.actors import Actor
from tenants.models import Role


def staff_actor(request: HttpRequest, model: MLModel) -> Actor:
    """Platform staff acting on a tenant's model; the audit log names the staff member."""
    return Actor(tenant=model.tenant, user=request.user, role=Role.OWNER, via="admin")


def _apply(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet,
           service, done: str) -> None:
    for model in queryset.select_related("tenant"):
        try:
            service(tenant=model.tenant, actor=staff_actor(request, model), model_id=model.pk)
        except ServiceError as exc:
            modeladmin.message_user(request, f"{model}: {exc.message}", messages.ERROR)
        else:
            modeladmin.message_user(request, f"{model}: {done}.", messages.SUCCESS)


@admin.action(description="Promote to active (replaces the market's active model)")
def promote(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    _apply(modeladmin, request, queryset, mlmodel_promote, "promoted")


@admin.action(description="Retire (stop using)")
def retire(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    _apply(modeladmin, request, queryset, mlmodel_retire, "retired")


@admin.register(MLModel)
class MLModelAdmin(admin.ModelAdmin):
    """Registry rows are written by training; staff change status only through the actions."""


    list_display = ["id", "tenant", "symbol", "timeframe", "version", "architecture", "status",
                    "test_score", "test_return", "trained_at", "failure_reason"]
    list_filter = ["status", "architecture", "timeframe"]
    search_fields = ["symbol", "tenant__slug"]
    list_select_related = ["tenant", "created_by"]
    actions = [promote, retire]
    # Every field is read-only: status changes go through the actions, schedules through
    # mlmodel_schedule, so the rules (one active, audit, live events) hold here too.
    readonly_fields = [field.name for field in MLModel._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # models come from training runs, never from a form

    @admin.display(description="test accuracy / RMSE")
    def test_score(self, obj: MLModel) -> str:
        test = (obj.metrics or {}).get("test") or {}
        value = test.get("accuracy", test.get("rmse"))
        return "" if value is None else f"{value:.4f}"

    @admin.display(description="test backtest %")
    def test_return(self, obj: MLModel) -> str:
        value = ((obj.metrics or {}).get("backtest") or {}).get("return_pct")
        return "" if value is None else f"{value:.2f}"
