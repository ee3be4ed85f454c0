"""Admin building blocks: lists that stay fast at millions of rows, and forms whose writes go
through services. Nothing here knows a domain model; each app's ``admin.py`` puts them together.
"""

import secrets

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IS_POPUP_VAR, TO_FIELD_VAR
from django.core.cache import cache
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.core.validators import ProhibitNullCharactersValidator
from django.db import connections
from django.http import HttpResponseRedirect, QueryDict
from django.template.response import TemplateResponse
from django.utils.functional import cached_property
from django.utils.translation import gettext as _

from harbourmaster.actors import Actor


def staff_actor(request) -> Actor:
    return Actor.staff(request.user)


# --- Lists that stay fast ------------------------------------------------------------------


class LargeTablePaginator(Paginator):
    """A paginator that never runs COUNT(*) over a whole big table.

    An unfiltered list on PostgreSQL takes the planner's estimate (``pg_class.reltuples``) once
    the table is large enough for counting to hurt; anything else counts at most
    ``count_limit`` + 1 rows, so a filter that matches half of a million rows costs no more
    than reading a few thousand index entries.
    """

    count_limit = 10_000
    # Below this many rows (or on a table never analysed) an exact, capped count is cheap.
    estimate_from = 10_000

    count_is_estimate = False
    count_is_capped = False

    @cached_property
    def count(self) -> int:
        estimate = self._planner_estimate()
        if estimate is not None and estimate >= self.estimate_from:
            self.count_is_estimate = True
            return estimate
        counted = self.object_list.order_by()[: self.count_limit + 1].count()
        self.count_is_capped = counted > self.count_limit
        return counted

    def _planner_estimate(self) -> int | None:
        queryset = self.object_list
        connection = connections[queryset.db]
        if connection.vendor != "postgresql" or queryset.query.where or queryset.query.distinct:
            return None
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)",
                [connection.ops.quote_name(queryset.model._meta.db_table)],
            )
            row = cursor.fetchone()
        # reltuples is -1 until the table is first vacuumed or analysed.
        return int(row[0]) if row and row[0] >= 0 else None


class LargeTableAdminMixin:
    """List options for tables that grow to millions of rows."""

    paginator = LargeTablePaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50
    ordering = ("-pk",)
    # Sorting a million rows by an unindexed column is one click away otherwise.
    sortable_by = ()


class InputFilter(admin.SimpleListFilter):
    """A filter typed into a box, for columns with too many values to list (user ids, request ids).

    Subclasses set ``title``, ``parameter_name``, ``lookup`` (the ORM lookup the value goes to)
    and optionally ``cast``; a value that does not cast matches nothing, and so does one holding
    a NUL character, which no PostgreSQL text can.
    """

    template = "admin/harbourmaster/input_filter.html"
    lookup = ""

    @staticmethod
    def cast(value: str):
        return value

    def lookups(self, request, model_admin):
        # SimpleListFilter renders only when there is at least one choice.
        return [("", "")]

    def queryset(self, request, queryset):
        value = (self.value() or "").strip()
        if not value:
            return queryset
        try:
            ProhibitNullCharactersValidator()(value)
            return queryset.filter(**{self.lookup: self.cast(value)})
        except (ValueError, ValidationError):
            return queryset.none()

    def choices(self, changelist):
        kept = QueryDict(changelist.get_query_string(remove=[self.parameter_name, "p"]).lstrip("?"))
        yield {
            "parameter_name": self.parameter_name,
            "value": self.value() or "",
            "hidden": [(name, value) for name in kept for value in kept.getlist(name)],
            "clear_query_string": changelist.get_query_string(remove=[self.parameter_name]),
        }


def input_filter(lookup: str, title: str, parameter_name: str, cast=str) -> type[InputFilter]:
    return type(
        f"{parameter_name.title().replace('_', '')}InputFilter",
        (InputFilter,),
        {"lookup": lookup, "title": title, "parameter_name": parameter_name, "cast": staticmethod(cast)},
    )


class EmailSearchMixin:
    """Emails are stored lower-case, so a term that looks like one is lower-cased before the
    exact (indexed) lookup; other terms (ids, uuids) are compared as typed."""

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        return super().get_search_results(request, queryset, term.lower() if "@" in term else term)


# --- Tenant-owned and append-only rows -----------------------------------------------------


class AllTenantsAdminMixin:
    """Staff see every tenant's rows, so the admin reads through the named unscoped path.

    A tenant-owned model's ``objects`` raises without a tenant context; relying on its default
    manager would work too, but quietly. This makes the cross-tenant read visible.
    """

    def get_queryset(self, request):
        queryset = self.model.objects.unscoped()
        ordering = self.get_ordering(request)
        return queryset.order_by(*ordering) if ordering else queryset


class AllTenantsInlineMixin(AllTenantsAdminMixin):
    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset if self.has_view_or_change_permission(request) else queryset.none()


class ReadOnlyAdminMixin:
    """Shown, never added, changed or deleted here: append-only records, and rows that only
    services write. Service actions declare their own permissions."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- Writes through services ---------------------------------------------------------------


def error_messages(error: ValidationError) -> list[str]:
    if not hasattr(error, "error_dict"):
        return list(error.messages)
    return [
        message if field == NON_FIELD_ERRORS else f"{field}: {message}"
        for field, field_messages in error.message_dict.items()
        for message in field_messages
    ]


def form_add_service_error(form: forms.BaseForm, error: ValidationError) -> None:
    """Put a service's ValidationError on the form: on the field it names, else at the top."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, field_errors in error.error_dict.items():
        if field in form.fields:
            form.add_error(field, field_errors)
        else:
            form.add_error(None, error_messages(ValidationError({field: field_errors})))


class ServiceFormsMixin:
    """Add and change forms whose data goes to services instead of ``form.save()``.

    The form validates input; ``create_through_service`` makes the row (with its records), and
    a ValidationError it raises lands on the form. A change's ``save_model`` calls services too;
    if one refuses what the form accepted (a race, or a rule only the service knows), the
    admin's transaction rolls back and staff see why.
    """

    def create_through_service(self, request, form):
        raise NotImplementedError

    def add_through_service(self, request, form):
        created = self.create_through_service(request, form)
        self.log_addition(request, created, [{"added": {}}])
        return self.response_add(request, created)

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form_class = self.get_form(request, None, change=False)
        if request.method != "POST":
            form = form_class(initial=self.get_changeform_initial_data(request))
            return self.render_add_form(request, form, form_url, extra_context)
        form = form_class(request.POST, request.FILES)
        if form.is_valid():
            try:
                return self.add_through_service(request, form)
            except ValidationError as error:
                form_add_service_error(form, error)
        return self.render_add_form(request, form, form_url, extra_context)

    def render_add_form(self, request, form, form_url, extra_context):
        admin_form = helpers.AdminForm(
            form,
            list(self.get_fieldsets(request, None)),
            self.get_prepopulated_fields(request, None),
            self.get_readonly_fields(request, None),
            model_admin=self,
        )
        context = {
            **self.admin_site.each_context(request),
            "title": _("Add %s") % self.opts.verbose_name,
            "subtitle": None,
            "adminform": admin_form,
            "object_id": None,
            "original": None,
            "is_popup": IS_POPUP_VAR in request.POST or IS_POPUP_VAR in request.GET,
            "to_field": request.POST.get(TO_FIELD_VAR, request.GET.get(TO_FIELD_VAR)),
            "media": self.media + admin_form.media,
            "inline_admin_formsets": [],
            "errors": helpers.AdminErrorList(form, []),
            "preserved_filters": self.get_preserved_filters(request),
            **(extra_context or {}),
        }
        return self.render_change_form(request, context, add=True, change=False, obj=None, form_url=form_url)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as error:
            if request.method != "POST":
                raise
            self.message_user(request, _("Nothing was saved: %s") % "; ".join(error_messages(error)), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


# --- Pages that show something once ----------------------------------------------------------

SUBMISSION_SECONDS = 24 * 3600


class SubmissionField(forms.CharField):
    """A hidden one-time token, so that posting a page again (a browser reload of the page that
    showed a secret) does not repeat what it did."""

    widget = forms.HiddenInput

    def __init__(self, **kwargs):
        super().__init__(initial=lambda: secrets.token_urlsafe(16), **kwargs)


def submission_claim(token: str) -> bool:
    return cache.add(f"admin-submission:{token}", True, timeout=SUBMISSION_SECONDS)


def submission_release(token: str) -> None:
    cache.delete(f"admin-submission:{token}")


# --- Actions with a form of their own ------------------------------------------------------


def action_form(request, form_class, **kwargs) -> forms.Form:
    """The form on an action's confirmation page, bound once that page is submitted."""
    if "apply" in request.POST:
        return form_class(request.POST, **kwargs)
    return form_class(**kwargs)


def action_form_page(model_admin, request, queryset, form, *, title: str, intro: str, action: str, describe=str):
    """The page between choosing an action and running it: what it applies to, and its form."""
    shown = [describe(obj) for obj in queryset[:21]]
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "intro": intro,
        "opts": model_admin.opts,
        "form": form,
        "objects": shown[:20],
        "more": len(shown) > 20,
        "action": action,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across", "0"),
        "form_url": request.get_full_path(),
    }
    return TemplateResponse(request, "admin/harbourmaster/action_form.html", context)
