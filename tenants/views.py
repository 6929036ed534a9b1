"""Account pages: sign-up, login with optional TOTP, tenant switcher, members, 2FA setup."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from aitrader.errors import ServiceError
from tenants import services
from tenants.forms import InviteForm, LoginForm, RoleForm, SignUpForm, TotpForm
from tenants.middleware import SESSION_TENANT_KEY
from tenants.models import Role, User
from tenants.selectors import (
    invitation_list_pending,
    membership_get_for_user,
    membership_list,
)
from tenants.web import member_actor, run_member_action

PENDING_2FA_KEY = "pending_2fa_user_id"
PENDING_NEXT_KEY = "pending_2fa_next"


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, {request.get_host()},
                                       require_https=request.is_secure()):
        return target
    return reverse("dashboard:overview")


def _complete_login(request: HttpRequest, user: User, next_url: str) -> HttpResponse:
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")  # rotates key
    membership = membership_get_for_user(user=user, tenant_id=None)
    if membership is not None:
        request.session[SESSION_TENANT_KEY] = membership.tenant_id
    return redirect(next_url)


def sign_up(request: HttpRequest) -> HttpResponse:
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user, _tenant = services.user_sign_up(**form.cleaned_data)
        except ServiceError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            return _complete_login(request, user, reverse("dashboard:overview"))
    return render(request, "accounts/signup.html", {"form": form})


def login_view(request: HttpRequest) -> HttpResponse:
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = authenticate(request, username=form.cleaned_data["email"].lower(),
                            password=form.cleaned_data["password"])
        if user is None:
            form.add_error(None, "E-mail or password is not right.")
        elif user.totp_enabled:
            request.session[PENDING_2FA_KEY] = user.pk
            request.session[PENDING_NEXT_KEY] = _safe_next(request)
            return redirect("login_2fa")
        else:
            return _complete_login(request, user, _safe_next(request))
    return render(request, "accounts/login.html", {"form": form,
                                                   "next": request.GET.get("next", "")})


def login_2fa(request: HttpRequest) -> HttpResponse:
    user = User.objects.filter(pk=request.session.get(PENDING_2FA_KEY), is_active=True).first()
    if user is None:
        return redirect("login")
    form = TotpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            verified = services.totp_verify(user=user, code=form.cleaned_data["code"])
        except ServiceError as exc:  # the seed cannot be opened: no sign-in, and say so
            form.add_error("code", exc.message)
            return render(request, "accounts/login_2fa.html", {"form": form})
        if verified:
            next_url = request.session.pop(PENDING_NEXT_KEY, reverse("dashboard:overview"))
            request.session.pop(PENDING_2FA_KEY, None)
            return _complete_login(request, user, next_url)
        # A wrong code is a failed sign-in: audited and counted like a wrong password.
        user_login_failed.send(sender=__name__, credentials={"username": user.email,
                                                             "step": "2fa"}, request=request)
        form.add_error("code", "That code is not valid; check the time on your device.")
    return render(request, "accounts/login_2fa.html", {"form": form})


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("login")


@login_required
@require_POST
def switch_tenant(request: HttpRequest) -> HttpResponse:
    tenant_id = _int_or_none(request.POST.get("tenant"))
    membership = membership_get_for_user(user=request.user, tenant_id=tenant_id)
    # The selector falls back to the first tenant; a switch only goes where it was asked.
    if membership is not None and membership.tenant_id == tenant_id:
        request.session[SESSION_TENANT_KEY] = membership.tenant_id
    return redirect("dashboard:overview")


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@login_required
def members(request: HttpRequest) -> HttpResponse:
    if request.membership is None:
        return redirect("dashboard:overview")
    invite_form = InviteForm(request.POST or None)
    if request.method == "POST" and invite_form.is_valid():
        try:
            invitation, token = services.membership_invite(
                tenant=request.tenant, actor=member_actor(request), **invite_form.cleaned_data)
        except ServiceError as exc:
            messages.error(request, exc.message)
        else:
            link = request.build_absolute_uri(reverse("accept_invitation", args=[token]))
            messages.success(request, f"Invitation for {invitation.email}: send them {link}")
            return redirect("members")
    return render(request, "accounts/members.html", {
        "members": membership_list(tenant=request.tenant),
        "invitations": invitation_list_pending(tenant=request.tenant),
        "invite_form": invite_form,
        "role_choices": Role.choices,
        "can_manage": member_actor(request).has_role(Role.ADMIN),
    })


@login_required
@require_POST
def member_change_role(request: HttpRequest, membership_id: int) -> HttpResponse:
    form = RoleForm(request.POST)
    if request.membership is None or not form.is_valid():
        messages.error(request, "Choose a valid role.")
        return redirect("members")
    run_member_action(request, services.membership_change_role, membership_id=membership_id,
         role=form.cleaned_data["role"], success="Role changed.")
    return redirect("members")


@login_required
@require_POST
def member_remove(request: HttpRequest, membership_id: int) -> HttpResponse:
    if request.membership is not None:
        run_member_action(request, services.membership_remove, membership_id=membership_id,
             success="Member removed.")
    return redirect("members")


@login_required
def accept_invitation(request: HttpRequest, token: str) -> HttpResponse:
    try:
        membership = services.invitation_accept(token=token, user=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("dashboard:overview")
    request.session[SESSION_TENANT_KEY] = membership.tenant_id
    messages.success(request, f"You joined {membership.tenant.name}.")
    return redirect("dashboard:overview")


@login_required
def two_factor(request: HttpRequest) -> HttpResponse:
    user = request.user
    form = TotpForm(request.POST or None)
    action = request.POST.get("action")
    if request.method == "POST" and action == "begin":
        try:
            services.totp_begin(user=user)
        except ServiceError as exc:
            messages.error(request, exc.message)
        return redirect("two_factor")
    if request.method == "POST" and form.is_valid():
        service = services.totp_disable if action == "disable" else services.totp_confirm
        try:
            service(user=user, code=form.cleaned_data["code"])
        except ServiceError as exc:
            form.add_error("code", exc.message)
        else:
            messages.success(request, "Two-factor authentication updated.")
            return redirect("two_factor")
    try:
        seed = services.totp_seed(user=user) if not user.totp_enabled else ""
    except ServiceError as exc:
        messages.error(request, exc.message)
        seed = ""
    provisioning_uri = None
    if seed:
        import pyotp

        provisioning_uri = pyotp.TOTP(seed).provisioning_uri(name=user.email,
                                                             issuer_name="aitrader")
    return render(request, "accounts/two_factor.html",
                  {"form": form, "provisioning_uri": provisioning_uri,
                   "secret": seed or None})
