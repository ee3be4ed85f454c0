"""The API's content negotiation answers as DRF's does, on the first call and every later one
(but for a ``?format=`` no renderer has: 406, not DRF's 404)."""

import pytest
from django.http import Http404
from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from harbourmaster.api.negotiation import RememberingContentNegotiation

HEADERS = [
    None,
    "application/json",
    "*/*",
    "application/*",
    "text/html",
    "text/html;q=0.9, application/json",
    "application/json; indent=4",
    "application/json; version=2, */*;q=0.1",
    "image/png",
]


def _answer(negotiation, accept, query=None, renderers=(JSONRenderer,)):
    headers = {"HTTP_ACCEPT": accept} if accept is not None else {}
    request = Request(APIRequestFactory().get("/api/v1/tenant", query or {}, **headers))
    offered = [renderer() for renderer in renderers]
    try:
        renderer, media_type = negotiation.select_renderer(request, offered)
    except exceptions.NotAcceptable:
        return "406"
    except Http404:  # ?format= naming no renderer offered
        return "404"
    return offered.index(renderer), media_type


@pytest.mark.parametrize("renderers", [(JSONRenderer,), (JSONRenderer, BrowsableAPIRenderer)])
@pytest.mark.parametrize("query", [None, {"format": "json"}, {"format": "api"}])
@pytest.mark.parametrize("accept", HEADERS)
def test_the_answer_is_drfs_every_time(accept, query, renderers):
    expected = _answer(DefaultContentNegotiation(), accept, query, renderers)
    if expected == "404":  # a format no renderer has: the hub says 406, where DRF says 404
        expected = "406"
    for _ in range(3):
        assert _answer(RememberingContentNegotiation(), accept, query, renderers) == expected


def test_the_api_answers_json_and_refuses_what_it_cannot_send(acme_admin):
    for _ in range(2):
        response = acme_admin.get("/api/v1/tenant", HTTP_ACCEPT="application/json")
        assert response.status_code == 200 and response.json()["slug"] == "acme"
        assert acme_admin.get("/api/v1/tenant", HTTP_ACCEPT="text/html").status_code == 406
