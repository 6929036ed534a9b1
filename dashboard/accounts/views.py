"""Account pages: sign-up, login with optional TOTP, tenant switcher, members, 2FA setup."""
from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from aitrader.bounded_input import object_id
from aitrader.errors import NotFound, ServiceError
from dashboard.accounts.forms import (
    InviteForm,
    LoginForm,
    RoleForm,
    SignUpForm,
    SignUpPasswordForm,
    TotpForm,
)
from dashboard.accounts.qr import qr_svg
from dashboard.middleware import SESSION_TENANT_KEY
from dashboard.net import client_ip, user_agent
from dashboard.post_only import post_only
from dashboard.web import (
    forget_second_factor,
    member_actor,
    remember_second_factor,
    run_member_action,
)
from tenants import services
from tenants.models import Role, User
from tenants.selectors import (
    invitation_get_open,
    invitation_list_pending,
    membership_get_for_user,
    membership_list,
)

PENDING_2FA_KEY = "pending_2fa_user_id"
PENDING_NEXT_KEY = "pending_2fa_next"


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, {request.get_host()},
                                       require_https=request.is_secure()):
        return target
    return reverse("dashboard:overview")


def _site_url(request: HttpRequest) -> str:
    """This site's scheme and host, for links in e-mails (the host is one ALLOWED_HOSTS let
    through)."""
    return request.build_absolute_uri("/").rstrip("/")


def _who(request: HttpRequest) -> dict[str, str | None]:
    """Where a request comes from, for the audit log."""
    return {"ip": client_ip(request.META), "user_agent": user_agent(request.META)}


def _complete_login(request: HttpRequest, user: User, next_url: str, *,
                    second_factor: bool = False) -> HttpResponse:
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")  # rotates key
    if second_factor:
        remember_second_factor(request.session, user)
    membership = membership_get_for_user(user=user, tenant_id=None)
    if membership is not None:
        request.session[SESSION_TENANT_KEY] = membership.tenant_id
    return redirect(next_url)


def sign_up(request: HttpRequest) -> HttpResponse:
    """Step one: the same answer for every address; the e-mail says the rest."""
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.signup_request(**form.cleaned_data, site_url=_site_url(request))
        except ServiceError as exc:
            form.add_error(None, exc.message)
        else:
            return redirect("signup_sent")
    return render(request, "accounts/signup.html", {"form": form})


def signup_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """Step two, from the e-mailed link: choose the password; the account is made now."""
    try:
        intent = services.signup_intent(token=token)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("signup" if isinstance(exc, NotFound) else "login")
    form = SignUpPasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user, _tenant = services.signup_complete(token=token,
                                                     password=form.cleaned_data["password"])
        except ServiceError as exc:
            form.add_error("password" if exc.field == "password" else None, exc.message)
        else:
            return _complete_login(request, user, reverse("dashboard:overview"))
    return render(request, "accounts/signup_confirm.html", {"form": form, "intent": intent})


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
            step = services.second_step_verify(user=user, code=form.cleaned_data["code"],
                                               **_who(request))
        except ServiceError as exc:  # the seed cannot be opened: no sign-in, and say so
            form.add_error("code", exc.message)
            return render(request, "accounts/login_2fa.html", {"form": form})
        if step.verified:
            next_url = request.session.pop(PENDING_NEXT_KEY, reverse("dashboard:overview"))
            request.session.pop(PENDING_2FA_KEY, None)
            if step.recovery_codes_left is not None:
                _warn_recovery_code_spent(request, step.recovery_codes_left)
            return _complete_login(request, user, next_url, second_factor=True)
        # A wrong code is a failed sign-in: audited and counted like a wrong password.
        user_login_failed.send(sender=__name__, credentials={"username": user.email,
                                                             "step": "2fa"}, request=request)
        form.add_error("code", "That code is not valid; check the time on your device.")
    return render(request, "accounts/login_2fa.html", {"form": form})


def _warn_recovery_code_spent(request: HttpRequest, left: int) -> None:
    # Shown after sign-in (the session keeps messages across the key rotation).
    plural = "" if left == 1 else "s"
    messages.warning(request, f"You signed in with a recovery code: {left} recovery code{plural} "
                              "left. If your authenticator is lost, make new codes or set it up "
                              "again on the two-factor page.")


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("login")


@login_required
@post_only("dashboard:overview")
def switch_tenant(request: HttpRequest) -> HttpResponse:
    tenant_id = object_id(request.POST.get("tenant"))
    membership = membership_get_for_user(user=request.user, tenant_id=tenant_id)
    # The selector falls back to the first tenant; a switch only goes where it was asked.
    if membership is not None and membership.tenant_id == tenant_id:
        request.session[SESSION_TENANT_KEY] = membership.tenant_id
    return redirect("dashboard:overview")




@login_required
def members(request: HttpRequest) -> HttpResponse:
    if request.membership is None:
        return redirect("dashboard:overview")
    invite_form = InviteForm(request.POST or None)
    if request.method == "POST" and invite_form.is_valid():
        try:
            invitation, token = services.membership_invite(
                tenant=request.tenant, actor=member_actor(request), site_url=_site_url(request),
                **invite_form.cleaned_data)
        except ServiceError as exc:
            messages.error(request, exc.message)
        else:
            link = request.build_absolute_uri(reverse("accept_invitation", args=[token]))
            messages.success(request, f"Invitation e-mailed to {invitation.email}. You can also "
                                      f"send them the link yourself: {link}")
            return redirect("members")
    return render(request, "accounts/members.html", {
        "members": membership_list(tenant=request.tenant),
        "invitations": invitation_list_pending(tenant=request.tenant),
        "invite_form": invite_form,
        "role_choices": Role.choices,
        "can_manage": member_actor(request).has_role(Role.ADMIN),
    })


@login_required
@post_only("members")
def member_change_role(request: HttpRequest, membership_id: int) -> HttpResponse:
    form = RoleForm(request.POST)
    if request.membership is None or not form.is_valid():
        messages.error(request, "Choose a valid role.")
        return redirect("members")
    run_member_action(request, services.membership_change_role, membership_id=membership_id,
         role=form.cleaned_data["role"], success="Role changed.")
    return redirect("members")


@login_required
@post_only("members")
def member_remove(request: HttpRequest, membership_id: int) -> HttpResponse:
    if request.membership is not None:
        run_member_action(request, services.membership_remove, membership_id=membership_id,
             success="Member removed.")
    return redirect("members")


@login_required
def accept_invitation(request: HttpRequest, token: str) -> HttpResponse:
    """GET names the workspace, role and inviter and asks; only a POST from that page (CSRF
    checked) joins, so a link from another site can neither join nor move anyone."""
    invitation = invitation_get_open(token=token)
    if invitation is None:
        messages.error(request, "This invitation is invalid or has expired; ask for a new one.")
        return redirect("dashboard:overview")
    if request.method == "POST":
        return _join(request, token, switch=request.POST.get("switch") == "1")
    return render(request, "accounts/invitation.html", {
        "invitation": invitation, "for_someone_else": invitation.email != request.user.email})


def _join(request: HttpRequest, token: str, *, switch: bool) -> HttpResponse:
    try:
        membership = services.invitation_accept(token=token, user=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("dashboard:overview")
    text = f"You joined {membership.tenant.name} as {membership.get_role_display()}."
    if switch:  # asked for on the confirmation page, never implied by the link
        request.session[SESSION_TENANT_KEY] = membership.tenant_id
        text += " It is now your active workspace."
    else:
        text += " Switch to it from the workspace menu when you want to work in it."
    messages.success(request, text)
    return redirect("dashboard:overview")


@login_required
def two_factor(request: HttpRequest) -> HttpResponse:
    """Set up, turn off, and renew the recovery codes of the second factor."""
    user = request.user
    form = TotpForm(request.POST or None)
    action = request.POST.get("action")
    if request.method == "POST" and action == "begin":
        try:
            services.totp_begin(user=user)
        except ServiceError as exc:
            messages.error(request, exc.message)
        return redirect(_with_next(reverse("two_factor"), request))
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["code"]
        try:
            if action == "disable":
                services.totp_disable(user=user, code=code, **_who(request))
            elif action == "recovery":
                codes = services.recovery_codes_regenerate(user=user, code=code, **_who(request))
            else:
                # Not counted as this session's second factor: it may have been stolen and
                # the code comes from the app just added. Admin asks for a fresh sign-in.
                codes = services.totp_confirm(user=user, code=code, **_who(request))
        except ServiceError as exc:
            form.add_error("code", exc.message)
        else:
            if action == "disable":
                forget_second_factor(request.session)
                messages.success(request, "Two-factor authentication is off.")
                return redirect("two_factor")
            # Shown in this answer only: the codes are never stored in clear, nor shown again.
            return _two_factor_page(request, TotpForm(), recovery_codes=codes)
    return _two_factor_page(request, form)


def _with_next(url: str, request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next")
    return f"{url}?{urlencode({'next': _safe_next(request)}, safe='/')}" if target else url


def _two_factor_page(request: HttpRequest, form: TotpForm, *,
                     recovery_codes: list[str] | None = None) -> HttpResponse:
    user = request.user
    secret = uri = ""
    if not user.totp_enabled:
        try:
            secret = services.totp_seed(user=user)
            uri = services.totp_provisioning_uri(user=user)
        except ServiceError as exc:
            messages.error(request, exc.message)
    return render(request, "accounts/two_factor.html", {
        "form": form, "secret": secret, "provisioning_uri": uri,
        "qr_svg": qr_svg(uri) if uri else "", "recovery_codes": recovery_codes,
        "codes_left": services.recovery_codes_left(user=user) if user.totp_enabled else None,
        "codes_total": services.RECOVERY_CODE_COUNT,
        "next": _safe_next(request) if (request.POST.get("next") or request.GET.get("next"))
        else ""})
