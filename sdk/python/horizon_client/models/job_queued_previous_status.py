from enum import StrEnum


class JobQueuedPreviousStatus(StrEnum):
    QUEUED = "QUEUED"
    SUBMITTED = "SUBMITTED"

    def __str__(self) -> str:
        return str(self.value)
