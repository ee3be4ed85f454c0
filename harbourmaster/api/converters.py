"""Path converters for the API's URLs."""

from django.urls import register_converter
from django.urls.converters import UUIDConverter


class AnyCaseUUIDConverter(UUIDConverter):
    """A uuid in either case (RFC 9562: case-insensitive on input), as a uuid.UUID.

    Django's `<uuid:...>` matches lower case only, so an upper-case uuid would get Django's
    HTML 404 instead of the resource. URLs are still written in lower case (`to_url`).
    """

    regex = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


register_converter(AnyCaseUUIDConverter, "any_case_uuid")
