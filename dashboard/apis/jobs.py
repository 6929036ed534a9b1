"""202 Accepted for work that runs in the background (a backtest, a training, a close-all).

The answer carries the job's resource in `Location` (and its body): the client follows it by
polling that URL, or the tenant's `/ws/live` feed, until the job says it is done.
"""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

JOB_LOCATION = OpenApiParameter(
    name="Location", type=OpenApiTypes.URI, location=OpenApiParameter.HEADER, response=[202],
    description="The job's resource: poll it (or follow /ws/live) until it is done.")


def accepted(request: Request, data: dict, *, view_name: str, pk: int) -> Response:
    """202 with the job's URL in `Location` and `url`."""
    url = reverse(view_name, args=[pk], request=request)
    return Response({**data, "url": url}, status=status.HTTP_202_ACCEPTED,
                    headers={"Location": url})
