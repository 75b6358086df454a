from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from typing_extensions import Self

from ..types import UNSET, Unset

T = TypeVar("T", bound="ReplayRequestDto")


@_attrs_define
class ReplayRequestDto:
    """
    Attributes:
        from_position (int | None | Unset): Only events at or after this outbox position.
        job_id (None | Unset | UUID): Only this job's events.
        rate_per_second (int | None | Unset): At most this many events a second (default 1000, at most 100000).
        since (datetime.datetime | None | Unset): Only events committed at or after this time (RFC 3339).
        to_topic (None | str | Unset): Send every record to this topic instead of each event's own.
    """

    from_position: int | None | Unset = UNSET
    job_id: None | Unset | UUID = UNSET
    rate_per_second: int | None | Unset = UNSET
    since: datetime.datetime | None | Unset = UNSET
    to_topic: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from_position: int | None | Unset
        if isinstance(self.from_position, Unset):
            from_position = UNSET
        else:
            from_position = self.from_position

        job_id: None | str | Unset
        if isinstance(self.job_id, Unset):
            job_id = UNSET
        elif isinstance(self.job_id, UUID):
            job_id = str(self.job_id)
        else:
            job_id = self.job_id

        rate_per_second: int | None | Unset
        if isinstance(self.rate_per_second, Unset):
            rate_per_second = UNSET
        else:
            rate_per_second = self.rate_per_second

        since: None | str | Unset
        if isinstance(self.since, Unset):
            since = UNSET
        elif isinstance(self.since, datetime.datetime):
            since = self.since.isoformat()
        else:
            since = self.since

        to_topic: None | str | Unset
        if isinstance(self.to_topic, Unset):
            to_topic = UNSET
        else:
            to_topic = self.to_topic

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if from_position is not UNSET:
            field_dict["from_position"] = from_position
        if job_id is not UNSET:
            field_dict["job_id"] = job_id
        if rate_per_second is not UNSET:
            field_dict["rate_per_second"] = rate_per_second
        if since is not UNSET:
            field_dict["since"] = since
        if to_topic is not UNSET:
            field_dict["to_topic"] = to_topic

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)

        def _parse_from_position(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        from_position = _parse_from_position(d.pop("from_position", UNSET))

        def _parse_job_id(data: object) -> None | Unset | UUID:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                job_id_type_0 = UUID(data)

                return job_id_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | UUID, data)

        job_id = _parse_job_id(d.pop("job_id", UNSET))

        def _parse_rate_per_second(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        rate_per_second = _parse_rate_per_second(d.pop("rate_per_second", UNSET))

        def _parse_since(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                since_type_0 = datetime.datetime.fromisoformat(data)

                return since_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        since = _parse_since(d.pop("since", UNSET))

        def _parse_to_topic(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        to_topic = _parse_to_topic(d.pop("to_topic", UNSET))

        replay_request_dto = cls(
            from_position=from_position,
            job_id=job_id,
            rate_per_second=rate_per_second,
            since=since,
            to_topic=to_topic,
        )

        return replay_request_dto
