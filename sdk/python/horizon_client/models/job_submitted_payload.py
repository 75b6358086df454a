from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from typing_extensions import Self

from ..models.job_submitted_payload_backend import JobSubmittedPayloadBackend

if TYPE_CHECKING:
    from ..models.job_submitted_payload_parameters import JobSubmittedPayloadParameters


T = TypeVar("T", bound="JobSubmittedPayload")


@_attrs_define
class JobSubmittedPayload:
    """
    Attributes:
        agent (str):
        backend (JobSubmittedPayloadBackend):
        dataset_id (str):
        parameters (JobSubmittedPayloadParameters):
    """

    agent: str
    backend: JobSubmittedPayloadBackend
    dataset_id: str
    parameters: JobSubmittedPayloadParameters

    def to_dict(self) -> dict[str, Any]:
        agent = self.agent

        backend = self.backend.value

        dataset_id = self.dataset_id

        parameters = self.parameters.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "agent": agent,
                "backend": backend,
                "dataset_id": dataset_id,
                "parameters": parameters,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.job_submitted_payload_parameters import (
            JobSubmittedPayloadParameters,
        )

        d = dict(src_dict)
        agent = d.pop("agent")

        backend = JobSubmittedPayloadBackend(d.pop("backend"))

        dataset_id = d.pop("dataset_id")

        parameters = JobSubmittedPayloadParameters.from_dict(d.pop("parameters"))

        job_submitted_payload = cls(
            agent=agent,
            backend=backend,
            dataset_id=dataset_id,
            parameters=parameters,
        )

        return job_submitted_payload
