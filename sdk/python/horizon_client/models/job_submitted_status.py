from enum import StrEnum


class JobSubmittedStatus(StrEnum):
    SUBMITTED = "SUBMITTED"

    def __str__(self) -> str:
        return str(self.value)
