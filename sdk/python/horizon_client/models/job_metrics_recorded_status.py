from enum import StrEnum


class JobMetricsRecordedStatus(StrEnum):
    CANCELLED = "CANCELLED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUBMITTED = "SUBMITTED"

    def __str__(self) -> str:
        return str(self.value)
