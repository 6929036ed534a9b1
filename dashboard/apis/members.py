"""/api/v1/members/: the workspace's members and invitations, as on the members page.

Everyone who may read sees who is in the workspace (the page shows it to every member);
inviting, changing a role and removing need an admin (a key with the `admin` scope). Only an
owner, signed in, makes or touches owners: a key holds no role.
"""
from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.response import Response

from dashboard.apis.base import TenantViewSet
from tenants import selectors as tenant_selectors
from tenants import services as tenant_services
from tenants.models import Invitation, Membership, Role, Scope


class MemberSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "email", "role", "created_at"]
        read_only_fields = fields


class RoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class InvitationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Invitation
        # Never the token's hash: the link is shown once, to whoever invited.
        fields = ["id", "email", "role", "created_at", "expires_at"]
        read_only_fields = fields


class InviteSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.VIEWER)


class InvitationCreatedSerializer(InvitationSerializer):
    accept_url = serializers.CharField(
        read_only=True, help_text="The one-time link to join (also e-mailed); shown once.")

    class Meta(InvitationSerializer.Meta):
        fields = [*InvitationSerializer.Meta.fields, "accept_url"]


class MemberViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Members of the workspace; changing a role or removing someone needs an admin."""

    serializer_class = MemberSerializer
    scope_map = {"PATCH": Scope.ADMIN, "DELETE": Scope.ADMIN}

    def get_tenant_queryset(self, tenant):
        return tenant_selectors.membership_list(tenant=tenant)

    @extend_schema(request=RoleSerializer, responses=MemberSerializer)
    def partial_update(self, request, pk=None):
        membership = self.get_object()
        body = RoleSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        membership = tenant_services.membership_change_role(
            tenant=self.tenant, actor=self.actor, membership_id=membership.pk,
            role=body.validated_data["role"])
        return Response(MemberSerializer(membership).data)

    @extend_schema(request=None, responses={204: None})
    def destroy(self, request, pk=None):
        membership = self.get_object()
        tenant_services.membership_remove(tenant=self.tenant, actor=self.actor,
                                          membership_id=membership.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationViewSet(mixins.ListModelMixin, TenantViewSet):
    """Pending invitations; inviting needs an admin and counts against the plan's members."""

    serializer_class = InvitationSerializer
    scope_map = {"POST": Scope.ADMIN}

    def get_tenant_queryset(self, tenant):
        return tenant_selectors.invitation_list_pending(tenant=tenant).order_by("created_at")

    @extend_schema(request=InviteSerializer, responses={201: InvitationCreatedSerializer})
    def create(self, request):
        body = InviteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        site_url = request.build_absolute_uri("/").rstrip("/")
        invitation, token = tenant_services.membership_invite(
            tenant=self.tenant, actor=self.actor, site_url=site_url, **body.validated_data)
        accept_url = site_url + reverse("accept_invitation", args=[token])
        return Response(InvitationSerializer(invitation).data | {"accept_url": accept_url},
                        status=status.HTTP_201_CREATED)
