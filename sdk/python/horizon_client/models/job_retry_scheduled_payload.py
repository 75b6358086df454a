from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from typing_extensions import Self

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.job_retry_scheduled_payload_resources import (
        JobRetryScheduledPayloadResources,
    )


T = TypeVar("T", bound="JobRetryScheduledPayload")


@_attrs_define
class JobRetryScheduledPayload:
    """
    Attributes:
        attempt (int): the next attempt's number
        error_code (str): why the attempt failed
        error_message (str):
        next_attempt_at (str): when the next attempt is handed over (RFC 3339 UTC, millisecond precision)
        resources (JobRetryScheduledPayloadResources): what the next attempt asks for
        exit_code (int | Unset):
    """

    attempt: int
    error_code: str
    error_message: str
    next_attempt_at: str
    resources: JobRetryScheduledPayloadResources
    exit_code: int | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        attempt = self.attempt

        error_code = self.error_code

        error_message = self.error_message

        next_attempt_at = self.next_attempt_at

        resources = self.resources.to_dict()

        exit_code = self.exit_code

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "attempt": attempt,
                "error_code": error_code,
                "error_message": error_message,
                "next_attempt_at": next_attempt_at,
                "resources": resources,
            }
        )
        if exit_code is not UNSET:
            field_dict["exit_code"] = exit_code

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.job_retry_scheduled_payload_resources import (
            JobRetryScheduledPayloadResources,
        )

        d = dict(src_dict)
        attempt = d.pop("attempt")

        error_code = d.pop("error_code")

        error_message = d.pop("error_message")

        next_attempt_at = d.pop("next_attempt_at")

        resources = JobRetryScheduledPayloadResources.from_dict(d.pop("resources"))

        exit_code = d.pop("exit_code", UNSET)

        job_retry_scheduled_payload = cls(
            attempt=attempt,
            error_code=error_code,
            error_message=error_message,
            next_attempt_at=next_attempt_at,
            resources=resources,
            exit_code=exit_code,
        )

        return job_retry_scheduled_payload
