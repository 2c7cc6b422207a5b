from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "ledger"
    verbose_name = "General ledger"
    # What each role may do in the ledger, as codenames of the ledger's own permissions;
    # `platform_integrity.roles` collects every app's into the role groups.
    role_permissions = {
        "accountant": [
            "view_entity",
            "view_account",
            "view_period",
            "view_fxrate",
            "view_journalentry",
            "prepare_journalentry",
        ],
        "approver": [
            "view_entity",
            "view_account",
            "view_period",
            "view_journalentry",
            "approve_journalentry",
        ],
        "controller": [
            "view_entity",
            "manage_entity",
            "view_account",
            "view_period",
            "close_period",
            "view_fxrate",
            "manage_fxrate",
            "view_journalentry",
            "prepare_journalentry",
            "supervise_journalentry",
            "approve_journalentry",
            "view_accountbalance",
        ],
        "ap_clerk": ["view_entity"],
        # Prepares entries: entities, thresholds, periods and rates stay the controller's.
        "integration": [
            "view_entity",
            "view_account",
            "view_period",
            "view_fxrate",
            "view_journalentry",
            "prepare_journalentry",
        ],
    }

    def ready(self) -> None:
        from ledger import invariants  # noqa: F401 (registers verify_integrity's checks)
