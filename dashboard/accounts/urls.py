"""Account pages under /accounts/."""
from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy
from django.views.generic import TemplateView

from dashboard.accounts import views

urlpatterns = [
    path("signup/", views.sign_up, name="signup"),
    path("signup/sent/", TemplateView.as_view(
        template_name="accounts/message.html",
        extra_context={"title": "Check your e-mail",
                       "text": "We sent a message to the address you gave. It tells you how to "
                               "go on: a link to choose your password and finish, or, if the "
                               "address already has an account, how to sign in."}),
        name="signup_sent"),
    path("signup/confirm/<str:token>/", views.signup_confirm, name="signup_confirm"),
    path("login/", views.login_view, name="login"),
    path("login/2fa/", views.login_2fa, name="login_2fa"),
    path("logout/", views.logout_view, name="logout"),
    path("switch/", views.switch_tenant, name="switch_tenant"),
    path("members/", views.members, name="members"),
    path("members/<int:membership_id>/role/", views.member_change_role, name="member_role"),
    path("members/<int:membership_id>/remove/", views.member_remove, name="member_remove"),
    path("invitations/<str:token>/", views.accept_invitation, name="accept_invitation"),
    path("2fa/", views.two_factor, name="two_factor"),
    path("password/change/", auth_views.PasswordChangeView.as_view(
        template_name="accounts/form_page.html", extra_context={"title": "Change your password"},
        success_url=reverse_lazy("password_change_done")), name="password_change"),
    path("password/change/done/", auth_views.PasswordChangeDoneView.as_view(
        template_name="accounts/message.html",
        extra_context={"title": "Password changed",
                       "text": "Your password is changed; your other sessions are signed out."}),
        name="password_change_done"),
    path("password/reset/", auth_views.PasswordResetView.as_view(
        template_name="accounts/form_page.html", extra_context={"title": "Reset your password"},
        email_template_name="accounts/password_reset_email.txt",
        success_url=reverse_lazy("password_reset_done")), name="password_reset"),
    path("password/reset/sent/", auth_views.PasswordResetDoneView.as_view(
        template_name="accounts/message.html",
        extra_context={"title": "Check your e-mail",
                       "text": "If an account uses that address, a reset link is on its way."}),
        name="password_reset_done"),
    path("password/reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(
        template_name="accounts/form_page.html", extra_context={"title": "Choose a new password"},
        success_url=reverse_lazy("password_reset_complete")), name="password_reset_confirm"),
    path("password/reset/complete/", auth_views.PasswordResetCompleteView.as_view(
        template_name="accounts/message.html",
        extra_context={"title": "Password set", "text": "You can sign in with it now."}),
        name="password_reset_complete"),
]
