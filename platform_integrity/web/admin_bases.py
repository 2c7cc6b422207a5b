"""Admin bases shared by every app: history that can be read but never reverted, views that
write nothing, and actions that ask for a reason and a confirmation before a command runs."""

from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from simple_history.admin import SimpleHistoryAdmin

from platform_integrity.errors import DomainError


class ReadOnlyHistoryAdmin(SimpleHistoryAdmin):
    """History is evidence: a snapshot is shown, never saved back over the live row."""

    def revert_disabled(self, request, obj=None) -> bool:
        return True

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method != "GET":
            raise PermissionDenied("History can be viewed, not reverted.")
        return super().history_form_view(request, object_id, version_id, extra_context)


class WritesNothing:
    """Every field shown read-only; nothing added, changed or deleted from the admin."""

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ViewOnlyAdmin(WritesNothing, ReadOnlyHistoryAdmin):
    """A money model the admin shows; its commands (screens, API, actions) change it."""


class ReadOnlyAdmin(WritesNothing, admin.ModelAdmin):
    """A table without history that the admin only lists (audit, outbox, counters)."""


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class ReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Kept in the audit trail with your name.",
    )


def confirmed(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    title: str,
    run: Callable[[object, str], str],
):
    """Show the selected rows and ask for a reason; on confirmation run `run(obj, reason)`
    for each row (it calls the command and returns what was done) and report each outcome."""
    form = ReasonForm(request.POST if "confirm" in request.POST else None)
    if form.is_bound and form.is_valid():
        for obj in queryset:
            try:
                done = run(obj, form.cleaned_data["reason"])
            except DomainError as err:
                modeladmin.message_user(request, f"{obj}: {err.detail}", messages.ERROR)
            else:
                modeladmin.message_user(request, done, messages.SUCCESS)
        return None
    return TemplateResponse(
        request,
        "admin/confirm_action.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": title,
            "opts": modeladmin.model._meta,
            "objects": list(queryset),
            "form": form,
            "action": request.POST.get("action", ""),
            "selected_ids": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        },
    )
