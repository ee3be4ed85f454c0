"""Serializers whose fields are worked out once per class, not once per response."""

import copy


class PrebuiltFieldsMixin:
    """For a ModelSerializer with fixed ``Meta.fields``: the model is introspected once.

    DRF's ModelSerializer reads the model's fields and builds a serializer field for each
    on every instance, which on a small answer is most of the serializing. Here the fields
    are built the first time and copied after (unbound copies, as DRF's own declared
    fields are), so each response still binds fields of its own.
    """

    def get_fields(self):
        cls = type(self)
        prebuilt = cls.__dict__.get("_prebuilt_fields")
        if prebuilt is None:
            prebuilt = super().get_fields()
            cls._prebuilt_fields = prebuilt
        return copy.deepcopy(prebuilt)
