from platform_integrity.errors import Conflict, DomainError, PermissionDenied, ValidationFailed


class JournalEntryImbalanced(ValidationFailed):
    code = "journal_entry.imbalanced"
    title = "Debits and credits do not balance"


class JournalEntryTooManyLines(ValidationFailed):
    code = "journal_entry.too_many_lines"
    title = "Too many lines in one entry"


class JournalEntryLinesInvalid(ValidationFailed):
    code = "journal_entry.lines_invalid"
    title = "Journal entry lines are invalid"


class AmountNotPositive(ValidationFailed):
    code = "journal_entry.amount_not_positive"
    title = "Line amounts must be greater than zero"


class AmountOutOfRange(ValidationFailed):
    code = "journal_entry.amount_out_of_range"
    title = "Amounts too large to record"


class AccountInvalid(ValidationFailed):
    code = "journal_entry.account_invalid"
    title = "Account cannot be used"


class ControlAccountReserved(AccountInvalid):
    code = "journal_entry.control_account"
    title = "Control account is posted by its subledger"


class PostingDateOutsidePeriod(ValidationFailed):
    code = "journal_entry.posting_date_outside_period"
    title = "Posting date outside the period"


class PeriodLocked(ValidationFailed):
    code = "period.locked"
    title = "Period is closed"


class PeriodInvalid(ValidationFailed):
    code = "period.invalid"
    title = "Period is invalid"


class FxRateMissing(ValidationFailed):
    code = "fx.rate_missing"
    title = "Exchange rate missing"


class UnknownCurrency(ValidationFailed):
    code = "currency.unknown"
    title = "Unknown currency"


class SelfApprovalForbidden(PermissionDenied):
    code = "journal_entry.self_approval_forbidden"
    title = "Preparer cannot approve their own entry"


class ApproverRoleRequired(PermissionDenied):
    code = "journal_entry.approver_role_required"
    title = "Approver role required"


class JournalEntryImmutable(Conflict):
    code = "journal_entry.immutable"
    title = "Posted entries cannot be changed"


class InvalidTransition(Conflict):
    code = "journal_entry.invalid_transition"
    title = "Not allowed in the entry's current status"


class EntityConfigurationInvalid(ValidationFailed):
    code = "entity.configuration_invalid"
    title = "Entity configuration is invalid"


class DuplicateCode(DomainError):
    code = "account.code_taken"
    status = 409
    title = "Account code already used in this entity"


class SystemEntryLocked(Conflict):
    code = "journal_entry.system_entry"
    title = "Posted by its source document"
