"""Roles are groups; what a role may do is a set of model permissions."""

from django.contrib.auth.models import Group, Permission

ROLE_PERMISSIONS: dict[str, list[str]] = {
    "accountant": [
        "ledger.view_entity",
        "ledger.view_account",
        "ledger.view_period",
        "ledger.view_fxrate",
        "ledger.view_journalentry",
        "ledger.prepare_journalentry",
    ],
    "approver": [
        "ledger.view_entity",
        "ledger.view_account",
        "ledger.view_period",
        "ledger.view_journalentry",
        "ledger.approve_journalentry",
    ],
    "controller": [
        "ledger.view_entity",
        "ledger.manage_entity",
        "ledger.view_account",
        "ledger.view_period",
        "ledger.close_period",
        "ledger.view_fxrate",
        "ledger.manage_fxrate",
        "ledger.view_journalentry",
        "ledger.prepare_journalentry",
        "ledger.supervise_journalentry",
        "ledger.approve_journalentry",
        "payables.view_vendor",
        "payables.view_bill",
        "payables.view_payment",
        "platform_integrity.view_auditevent",
        "platform_integrity.view_contentioncounter",
        "platform_integrity.view_accountbalance",
        "platform_integrity.view_outboxevent",
        "platform_integrity.view_apitoken",
        "platform_integrity.revoke_apitoken",
        "platform_integrity.view_idempotencykey",
    ],
    "ap_clerk": [
        "ledger.view_entity",
        "payables.view_vendor",
        "payables.manage_vendor",
        "payables.view_bill",
        "payables.enter_bill",
        "payables.view_payment",
        "payables.pay_bill",
    ],
    # Prepares entries, enters vendors and bills, pays, and polls the event feed:
    # entities, thresholds, periods and rates stay the controller's, and so does reading
    # the audit log (every actor's IP and payload).
    "integration": [
        "ledger.view_entity",
        "ledger.view_account",
        "ledger.view_period",
        "ledger.view_fxrate",
        "ledger.view_journalentry",
        "ledger.prepare_journalentry",
        "payables.view_vendor",
        "payables.manage_vendor",
        "payables.view_bill",
        "payables.enter_bill",
        "payables.view_payment",
        "payables.pay_bill",
        "platform_integrity.view_outboxevent",
        "platform_integrity.view_contentioncounter",
    ],
}
ROLES = tuple(ROLE_PERMISSIONS)
CONTROLLER_STAFF_ROLES = {"controller"}


def ensure_roles(**_kwargs) -> None:
    """Create the role groups and (re)assign their permissions; run after every migrate."""
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = []
        for perm in perms:
            app_label, codename = perm.split(".")
            wanted.extend(
                Permission.objects.filter(content_type__app_label=app_label, codename=codename)
            )
        group.permissions.set(wanted)
