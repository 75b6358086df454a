from enum import StrEnum


class JobRetryScheduledPreviousStatus(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"

    def __str__(self) -> str:
        return str(self.value)
