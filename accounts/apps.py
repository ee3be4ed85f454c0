from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Users"

    def ready(self):
        # Django's user_logged_out: the clients of the ended session hear of it (decision 19).
        from accounts.oidc import backchannel  # noqa: F401

        # allauth's signals: a guest merged on signing in, enrolment counted as MFA use, the
        # email's verified flag following allauth's address page.
        from accounts.signin import addresses, guest, mfa  # noqa: F401
