from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination

from harbourmaster.api.errors import InvalidInput


class IdCursorPagination(CursorPagination):
    """One pagination style for the whole API: an opaque cursor over the primary key.

    A cursor stays correct while rows are added or removed, unlike page numbers.
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

    def decode_cursor(self, request):
        # DRF checks the offset and direction but hands the position to the query as it
        # came: a position that is not an id would fail there, as a 500.
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None and not _an_id(cursor.position):
            raise NotFound(self.invalid_cursor_message)
        return cursor


def _an_id(position: str) -> bool:
    return position.isascii() and position.isdigit() and len(position) <= 19  # a bigint
