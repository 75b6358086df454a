from enum import StrEnum


class JobStatusChangedPreviousStatus(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUBMITTED = "SUBMITTED"

    def __str__(self) -> str:
        return str(self.value)
