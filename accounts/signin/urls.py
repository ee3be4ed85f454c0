from django.urls import path

from accounts.signin import guest

urlpatterns = [
    path("guest/", guest.guest_sign_in, name="guest_sign_in"),
]
