from enum import StrEnum


class BackendDto(StrEnum):
    LOCAL = "local"
    SLURM = "slurm"
    TAPIS = "tapis"

    def __str__(self) -> str:
        return str(self.value)
