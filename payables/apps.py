from django.apps import AppConfig


class PayablesConfig(AppConfig):
    name = "payables"
    verbose_name = "Payables"
    # What each role may do in payables, as codenames of its own permissions;
    # `platform_integrity.roles` collects every app's into the role groups.
    role_permissions = {
        "controller": ["view_vendor", "view_bill", "view_payment"],
        "ap_clerk": [
            "view_vendor",
            "manage_vendor",
            "view_bill",
            "enter_bill",
            "view_payment",
            "pay_bill",
        ],
        "integration": [
            "view_vendor",
            "manage_vendor",
            "view_bill",
            "enter_bill",
            "view_payment",
            "pay_bill",
        ],
    }

    def ready(self) -> None:
        from payables import invariants  # noqa: F401 (registers verify_integrity's checks)
