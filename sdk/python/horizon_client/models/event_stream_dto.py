from enum import StrEnum


class EventStreamDto(StrEnum):
    LIFECYCLE = "lifecycle"
    METRICS = "metrics"

    def __str__(self) -> str:
        return str(self.value)
