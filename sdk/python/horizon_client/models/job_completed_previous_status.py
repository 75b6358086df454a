from enum import StrEnum


class JobCompletedPreviousStatus(StrEnum):
    RUNNING = "RUNNING"

    def __str__(self) -> str:
        return str(self.value)
