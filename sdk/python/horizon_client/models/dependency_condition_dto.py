from enum import StrEnum


class DependencyConditionDto(StrEnum):
    AFTER_ANY = "after_any"
    AFTER_NOT_OK = "after_not_ok"
    AFTER_OK = "after_ok"

    def __str__(self) -> str:
        return str(self.value)
