"""Serializers whose fields are worked out once per class, not once per response."""

import copy

from rest_framework import serializers


def _holds_fields(field) -> bool:
    """Whether a field owns other fields (nested serializers, list and dict children,
    many-related children), which a shallow copy would share between responses."""
    if isinstance(field, serializers.BaseSerializer):
        return True
    return any(hasattr(field, name) for name in ("child", "child_relation", "fields"))


class PrebuiltFieldsMixin:
    """For a ModelSerializer with fixed ``Meta.fields``: the model is introspected once.

    DRF's ModelSerializer reads the model's fields and builds a serializer field for each
    on every instance, which on a small answer is most of the serializing. Here the fields
    are built the first time and copied after, so each response still binds fields of its
    own. A plain field is copied shallowly: binding sets only its own attributes (name,
    parent, source), and DRF's deep copy, which constructs the field again from its
    arguments, cost more than the rest of a small answer. Fields that hold fields are
    deep-copied as DRF does.
    """

    def get_fields(self):
        cls = type(self)
        prebuilt = cls.__dict__.get("_prebuilt_fields")
        if prebuilt is None:
            prebuilt = super().get_fields()
            cls._prebuilt_fields = prebuilt
        return {
            name: copy.deepcopy(field) if _holds_fields(field) else copy.copy(field) for name, field in prebuilt.items()
        }
