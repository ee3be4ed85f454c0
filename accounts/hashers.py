from django.contrib.auth.hashers import Argon2PasswordHasher


class HubArgon2PasswordHasher(Argon2PasswordHasher):
    """Argon2id at Keycloak's cost (7 MiB, 5 passes, 1 lane): tens of milliseconds a login.

    Django's default (100 MiB, 2 passes, 8 lanes) costs hundreds of milliseconds, which a
    hub that signs in a whole group of companies cannot spend on every login. Hashes made
    with other parameters are upgraded on the next successful login (must_update).
    """

    algorithm = "argon2"
    time_cost = 5
    memory_cost = 7168
    parallelism = 1
