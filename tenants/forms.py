"""Forms of the account pages; they only parse input, services apply the rules."""
from django import forms

from tenants.models import Role


class SignUpForm(forms.Form):
    email = forms.EmailField()
    full_name = forms.CharField(max_length=150, required=False, label="Your name")
    workspace_name = forms.CharField(max_length=120, label="Workspace name")
    password = forms.CharField(widget=forms.PasswordInput, min_length=10, strip=False)


class LoginForm(forms.Form):
    email = forms.EmailField()
    password = forms.CharField(widget=forms.PasswordInput, strip=False)


class TotpForm(forms.Form):
    code = forms.CharField(max_length=8, label="6-digit code",
                           widget=forms.TextInput(attrs={"autocomplete": "one-time-code",
                                                         "inputmode": "numeric"}))


class InviteForm(forms.Form):
    email = forms.EmailField()
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
