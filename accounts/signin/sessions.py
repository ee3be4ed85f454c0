"""Sessions in Redis, written once a request (``SESSION_ENGINE`` when ``REDIS_URL`` is set).

Django's cache sessions make a session in three steps: ask whether a random key is taken,
write the session under it at once (an add, which refuses a taken key anyway), and at the
end of the request read it back to check it still exists and write it again. A sign-in
makes a new session (the key changes against session fixation), so it paid four round
trips to Redis. Here a new key is only chosen when the session is made; the one write at
the end of the request is the add (Redis ``SET NX``), which is all that ever made the key
safe. An existing session is saved as Django saves it: only if it still exists, so a
session ended elsewhere meanwhile is not brought back.
"""

from django.contrib.sessions.backends.base import VALID_KEY_CHARS, CreateError
from django.contrib.sessions.backends.cache import SessionStore as CacheSessionStore
from django.utils.crypto import get_random_string

NEW_KEY_ATTEMPTS = 5  # a clash of 32 random characters does not happen; a broken RNG would


class SessionStore(CacheSessionStore):
    _unwritten = False  # made in this request and not in Redis yet

    def _get_new_session_key(self) -> str:
        return get_random_string(32, VALID_KEY_CHARS)

    def create(self) -> None:
        self._session_key = self._get_new_session_key()
        self._unwritten = True
        self.modified = True

    def save(self, must_create: bool = False) -> None:
        if self.session_key is None:
            self.create()
        if not (self._unwritten or must_create):
            return super().save()
        for _ in range(NEW_KEY_ATTEMPTS):
            try:
                super().save(must_create=True)
            except CreateError:
                self._session_key = self._get_new_session_key()
                continue
            self._unwritten = False
            return
        raise RuntimeError("Unable to create a new session key.")
