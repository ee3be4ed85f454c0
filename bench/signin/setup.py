"""Users for the password-login benchmark: ``setup.py COUNT PASSWORD``.

Run with the benchmark's environment (run.py sets it): a fresh, migrated hm_bench_signin.
"""

import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.signin.settings")
django.setup()

from allauth.account.models import EmailAddress  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402

from accounts.models import User  # noqa: E402


def main(count: int, password: str) -> None:
    encoded = make_password(password)  # the hub's hasher, one hash shared: verifying is the cost
    users = User.objects.bulk_create(
        [User(email=f"reader{n}@bench.example", password=encoded) for n in range(count)], batch_size=1000
    )
    EmailAddress.objects.bulk_create(
        [EmailAddress(user=user, email=user.email, verified=True, primary=True) for user in users], batch_size=1000
    )
    print(encoded.split("$")[1], encoded.split("$")[3])


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
