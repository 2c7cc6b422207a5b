"""Payables errors: each carries its problem code, status, title and extra fields."""

from platform_integrity.errors import Conflict, ValidationFailed


class DuplicatePaymentAttempt(Conflict):
    code = "bill_already_paid_or_in_flight"
    title = "Duplicate payment attempt"
    rejection_event = "payment.rejected_duplicate"


class Overpayment(ValidationFailed):
    code = "payment.overpayment"
    title = "Payment exceeds the balance due"


class CurrencyMismatch(ValidationFailed):
    code = "payment.currency_mismatch"
    title = "Payment currency differs from the bill's"


class ChannelInvalid(ValidationFailed):
    code = "payment.channel_invalid"
    title = "Channel not allowed through this door"


class PaymentInvalidTransition(Conflict):
    code = "payment.invalid_transition"
    title = "Not allowed in the payment's current status"


class PaymentAmountInvalid(ValidationFailed):
    code = "payment.amount_invalid"
    title = "Payment amount must be greater than zero"


class BillInvalid(ValidationFailed):
    code = "bill.invalid"
    title = "Bill is invalid"


class BillCurrencyMismatch(ValidationFailed):
    code = "bill.currency_mismatch"
    title = "Bill currency differs from the vendor's"


class BillNumberTaken(Conflict):
    code = "bill.number_taken"
    title = "Bill number already used for this vendor"


class VendorInvalid(ValidationFailed):
    code = "vendor.invalid"
    title = "Vendor is invalid"
