from rest_framework.pagination import CursorPagination


class IdCursorPagination(CursorPagination):
    """One pagination style for the whole API: an opaque cursor over the primary key.

    A cursor stays correct while rows are added or removed, unlike page numbers.
    """

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
