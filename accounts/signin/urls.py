from django.urls import path

from accounts.signin import guest, reauthentication

urlpatterns = [
    path("guest/", guest.guest_sign_in, name="guest_sign_in"),
    path("sign-in-again/", reauthentication.sign_in_again, name=reauthentication.PAGE),
    path("sign-in-again/code/", reauthentication.sign_in_again_code, name=reauthentication.CODE_PAGE),
]
