from django.http import JsonResponse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from tenants.config import config_schema


@require_GET
@cache_control(public=True, max_age=3600)
def tenant_config_schema(request):
    """The published JSON Schema every tenant config is validated against."""
    return JsonResponse(config_schema(), json_dumps_params={"indent": 2})
