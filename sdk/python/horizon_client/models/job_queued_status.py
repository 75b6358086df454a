from enum import StrEnum


class JobQueuedStatus(StrEnum):
    QUEUED = "QUEUED"

    def __str__(self) -> str:
        return str(self.value)
