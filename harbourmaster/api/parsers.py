from rest_framework.parsers import JSONParser


class MergePatchParser(JSONParser):
    """RFC 7396 bodies (application/merge-patch+json) are JSON too."""

    media_type = "application/merge-patch+json"
