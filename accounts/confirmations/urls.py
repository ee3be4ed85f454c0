from django.urls import path

from accounts.confirmations import views

urlpatterns = [
    path("confirm/<str:token>/", views.consent_confirm, name="consent-confirm"),
]
