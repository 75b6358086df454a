from enum import StrEnum


class JobQueuedPreviousStatus(StrEnum):
    SUBMITTED = "SUBMITTED"

    def __str__(self) -> str:
        return str(self.value)
