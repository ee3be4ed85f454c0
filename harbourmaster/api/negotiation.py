"""DRF's content negotiation, remembered per Accept header.

Every API answer parsed the caller's Accept header and matched it against the renderers,
though a system sends the same header on every call. The answer depends only on that
header and the renderers offered, so each process keeps it (up to a bound), and asks
DRF only for headers it has not seen, for ``?format=`` and format suffixes, and for
headers no renderer matches (answered with DRF's own 406). A format no renderer has is a
406 too, where DRF answers 404, which a caller would read as "no such user".
"""

from django.http import Http404
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation

_REMEMBERED_LIMIT = 256


class RememberingContentNegotiation(DefaultContentNegotiation):
    _remembered: dict[tuple, tuple[int, str]] = {}

    def select_renderer(self, request, renderers, format_suffix=None):
        if format_suffix or self.settings.URL_FORMAT_OVERRIDE in request.query_params:
            try:
                return super().select_renderer(request, renderers, format_suffix)
            except Http404:  # DRF's answer to a format no renderer has: it reads as "no such user"
                offered = ", ".join(sorted({renderer.format for renderer in renderers}))
                raise NotAcceptable(f"unknown format; this endpoint answers in {offered}") from None
        key = (request.META.get("HTTP_ACCEPT", "*/*"), tuple(type(renderer) for renderer in renderers))
        remembered = self._remembered.get(key)
        if remembered is not None:
            index, media_type = remembered
            return renderers[index], media_type
        renderer, media_type = super().select_renderer(request, renderers, format_suffix)
        if len(self._remembered) >= _REMEMBERED_LIMIT:
            self._remembered.clear()
        self._remembered[key] = (renderers.index(renderer), media_type)
        return renderer, media_type
