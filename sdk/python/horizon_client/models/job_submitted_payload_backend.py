from enum import StrEnum


class JobSubmittedPayloadBackend(StrEnum):
    LOCAL = "local"
    SLURM = "slurm"
    TAPIS = "tapis"

    def __str__(self) -> str:
        return str(self.value)
