from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

from cryptography.fernet import InvalidToken
from django.conf import settings
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.utils.urls import replace_query_param

from harbourmaster.api.errors import InvalidInput
from harbourmaster.encryption import fernet_of

CURSOR_KEY_LABEL = b"api-cursor"


class IdCursorPagination(CursorPagination):
    """One pagination style for the whole API: an opaque cursor over the primary key.

    A cursor stays correct while rows are added or removed, unlike page numbers. It is
    sealed (encrypted and authenticated with a key from ``SECRET_KEY``): the position is a
    row's internal id, and ids would tell a tenant how many users the hub holds and how
    fast it grows. A cursor altered or made elsewhere is a 404, as a stale one is.
    """

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request):
        # DRF quietly serves its default for page_size=abc, 0 or -5: a caller that asked for
        # something else is told. Above the maximum it gets the maximum, as documented.
        value = request.query_params.get(self.page_size_query_param)
        if value is None:
            return self.page_size
        if not (value.isascii() and value.isdigit()) or int(value) < 1:
            raise InvalidInput([{"path": f"/{self.page_size_query_param}", "message": "a whole number from 1"}])
        return min(int(value), self.max_page_size)

    def encode_cursor(self, cursor):
        url = super().encode_cursor(cursor)
        plain = parse_qs(urlsplit(url).query)[self.cursor_query_param][-1]
        sealed = _sealer().encrypt(plain.encode("ascii")).decode("ascii")
        return replace_query_param(url, self.cursor_query_param, sealed)

    def decode_cursor(self, request):
        sealed = request.query_params.get(self.cursor_query_param)
        if sealed is None:
            return None
        try:
            plain = _sealer().decrypt(sealed.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError):
            raise NotFound(self.invalid_cursor_message) from None
        # DRF checks the offset and direction but hands the position to the query as it
        # came: a position that is not an id would fail there, as a 500.
        cursor = super().decode_cursor(SimpleNamespace(query_params={self.cursor_query_param: plain}))
        if cursor is not None and cursor.position is not None and not _an_id(cursor.position):
            raise NotFound(self.invalid_cursor_message)
        return cursor


def _an_id(position: str) -> bool:
    return position.isascii() and position.isdigit() and len(position) <= 19  # a bigint


def _sealer():
    return fernet_of((settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS), CURSOR_KEY_LABEL)
