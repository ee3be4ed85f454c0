from django.http import JsonResponse
from oauth2_provider.contrib.rest_framework import OAuth2Authentication, TokenHasScope
from rest_framework.response import Response
from rest_framework.views import APIView


class PingView(APIView):
    """A tiny JSON answer behind DOT's DRF authentication and a scope check."""

    authentication_classes = [OAuth2Authentication]
    permission_classes = [TokenHasScope]
    required_scopes = ["read"]

    def get(self, request):
        return Response({"client_id": request.auth.application.client_id, "scope": request.auth.scope})


def floor(request):
    """The floor under every scenario: Django answering a tiny JSON with no auth, no
    database, no cache. No view on this server and machine can be faster."""
    return JsonResponse({"ok": True})
