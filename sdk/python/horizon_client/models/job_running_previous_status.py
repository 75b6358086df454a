from enum import StrEnum


class JobRunningPreviousStatus(StrEnum):
    QUEUED = "QUEUED"

    def __str__(self) -> str:
        return str(self.value)
