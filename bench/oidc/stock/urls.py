from django.urls import path
from oauth2_provider import views as oauth2_views

from stock.views import PingView, floor

urlpatterns = [
    path("o/token/", oauth2_views.TokenView.as_view(), name="token"),
    path("o/introspect/", oauth2_views.IntrospectTokenView.as_view(), name="introspect"),
    path("api/ping", PingView.as_view(), name="ping"),
    path("floor", floor, name="floor"),
]
