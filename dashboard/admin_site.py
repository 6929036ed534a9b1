"""Django admin behind the project's own sign-in: the two steps of /accounts/login/, and 2FA
required of every staff account.

The admin's own login form (a password alone) is gone: /admin/login/ sends to the two-step
sign-in and back. A staff session opens admin only once it passed the second factor; staff
without 2FA are sent to set it up first.
"""
from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme


class AitraderAdminSite(admin.AdminSite):
    """The admin site; `has_permission` adds the second factor to Django's staff check."""

    def has_permission(self, request: HttpRequest) -> bool:
        from dashboard.web import second_factor_passed

        return super().has_permission(request) and second_factor_passed(request)

    def login(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        """Never a password form: to 2FA set-up for staff without it, else to the sign-in."""
        next_url = self._next(request)
        user = request.user
        if user.is_authenticated and user.is_active and user.is_staff and not user.totp_enabled:
            messages.warning(request, "Staff accounts need two-factor authentication to open "
                                      "the admin; set it up here.")
            return redirect(f"{reverse('two_factor')}?{urlencode({'next': next_url}, safe='/')}")
        if user.is_authenticated and user.is_staff:
            messages.info(request, "The admin needs a sign-in with your two-factor code in "
                                   "this session: sign in again.")
        return redirect(f"{reverse('login')}?{urlencode({'next': next_url}, safe='/')}")

    def _next(self, request: HttpRequest) -> str:
        target = request.GET.get("next", "")
        if url_has_allowed_host_and_scheme(target, {request.get_host()},
                                           require_https=request.is_secure()):
            return target
        return reverse("admin:index", current_app=self.name)


class TenantsAdminConfig(AdminConfig):
    """django.contrib.admin with AitraderAdminSite as `admin.site` (INSTALLED_APPS names it)."""

    default_site = "dashboard.admin_site.AitraderAdminSite"
