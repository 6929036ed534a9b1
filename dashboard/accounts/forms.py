"""Forms of the account pages; they only parse input, services apply the rules."""
from django import forms

from tenants.models import Role


class SignUpForm(forms.Form):
    email = forms.EmailField()
    full_name = forms.CharField(max_length=150, required=False, label="Your name")
    workspace_name = forms.CharField(max_length=120, label="Workspace name")


class SignUpPasswordForm(forms.Form):
    """The sign-up's second step, at the e-mailed link; the service names weak passwords."""

    password = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
                               strip=False, label="Choose a password")


class LoginForm(forms.Form):
    email = forms.EmailField()
    password = forms.CharField(widget=forms.PasswordInput, strip=False)


class TotpForm(forms.Form):
    # A 6-digit authenticator code, or at the sign-in step a recovery code (xxxxx-xxxxx).
    code = forms.CharField(max_length=20, label="Code",
                           widget=forms.TextInput(attrs={"autocomplete": "one-time-code",
                                                         "autocapitalize": "off"}))


class InviteForm(forms.Form):
    email = forms.EmailField()
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
