"""Raw password-verification rate of the hub's hasher, one process: ``hashrate.py SECONDS``.

Prints verifications per second, then per CPU-second of this process. run.py starts one
per core at the same time.
"""

import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.signin.settings")
django.setup()

from django.contrib.auth.hashers import check_password, make_password  # noqa: E402

PASSWORD = "correct horse battery staple 42"


def main(seconds: float) -> None:
    encoded = make_password(PASSWORD)
    check_password(PASSWORD, encoded)
    count, started, cpu = 0, time.perf_counter(), time.process_time()
    while (elapsed := time.perf_counter() - started) < seconds:
        if not check_password(PASSWORD, encoded):
            raise SystemExit("the hasher refused its own password")
        count += 1
    print(f"{count / elapsed:.2f} {count / (time.process_time() - cpu):.2f}")


if __name__ == "__main__":
    main(float(sys.argv[1]))
