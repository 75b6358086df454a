from enum import StrEnum


class JobCompletedStatus(StrEnum):
    COMPLETED = "COMPLETED"

    def __str__(self) -> str:
        return str(self.value)
