from enum import StrEnum


class JobRunningStatus(StrEnum):
    RUNNING = "RUNNING"

    def __str__(self) -> str:
        return str(self.value)
