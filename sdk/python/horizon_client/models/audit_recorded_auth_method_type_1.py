from enum import StrEnum


class AuditRecordedAuthMethodType1(StrEnum):
    CLI = "cli"
    JWT = "jwt"
    TOKEN = "token"

    def __str__(self) -> str:
        return str(self.value)
