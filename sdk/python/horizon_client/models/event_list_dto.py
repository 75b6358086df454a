from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field
from typing_extensions import Self

from ..models.event_stream_dto import EventStreamDto
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.job_cancelled import JobCancelled
    from ..models.job_completed import JobCompleted
    from ..models.job_failed import JobFailed
    from ..models.job_metrics_recorded import JobMetricsRecorded
    from ..models.job_queued import JobQueued
    from ..models.job_retry_scheduled import JobRetryScheduled
    from ..models.job_running import JobRunning
    from ..models.job_status_changed import JobStatusChanged
    from ..models.job_submitted import JobSubmitted


T = TypeVar("T", bound="EventListDto")


@_attrs_define
class EventListDto:
    """A job's events: the exact envelopes that are published to Kafka.

    Attributes:
        events (list[JobCancelled | JobCompleted | JobFailed | JobMetricsRecorded | JobQueued | JobRetryScheduled |
            JobRunning | JobStatusChanged | JobSubmitted]):
        streams (list[EventStreamDto]): Which of the job's two sequences each event's `sequence` counts in
            (`streams[i]` is `events[i]`'s): `lifecycle` (1, 2, 3, … over the
            job's lifecycle events) or `metrics` (its own 1, 2, 3, … over the
            samples). Each is gap-free on its own; read together they are not.
        next_after (None | Unset | UUID): Pass as `after` for the next page; absent when this page holds the
            job's newest event.
    """

    events: list[
        JobCancelled
        | JobCompleted
        | JobFailed
        | JobMetricsRecorded
        | JobQueued
        | JobRetryScheduled
        | JobRunning
        | JobStatusChanged
        | JobSubmitted
    ]
    streams: list[EventStreamDto]
    next_after: None | Unset | UUID = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.job_cancelled import JobCancelled
        from ..models.job_completed import JobCompleted
        from ..models.job_failed import JobFailed
        from ..models.job_queued import JobQueued
        from ..models.job_retry_scheduled import JobRetryScheduled
        from ..models.job_running import JobRunning
        from ..models.job_status_changed import JobStatusChanged
        from ..models.job_submitted import JobSubmitted

        events = []
        for events_item_data in self.events:
            events_item: dict[str, Any]
            if (
                isinstance(events_item_data, JobSubmitted)
                or isinstance(events_item_data, JobQueued)
                or isinstance(events_item_data, JobRunning)
                or isinstance(events_item_data, JobCompleted)
                or isinstance(events_item_data, JobFailed)
                or isinstance(events_item_data, JobCancelled)
                or isinstance(events_item_data, JobStatusChanged)
                or isinstance(events_item_data, JobRetryScheduled)
            ):
                events_item = events_item_data.to_dict()
            else:
                events_item = events_item_data.to_dict()

            events.append(events_item)

        streams = []
        for streams_item_data in self.streams:
            streams_item = streams_item_data.value
            streams.append(streams_item)

        next_after: None | str | Unset
        if isinstance(self.next_after, Unset):
            next_after = UNSET
        elif isinstance(self.next_after, UUID):
            next_after = str(self.next_after)
        else:
            next_after = self.next_after

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "events": events,
                "streams": streams,
            }
        )
        if next_after is not UNSET:
            field_dict["next_after"] = next_after

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.job_cancelled import JobCancelled
        from ..models.job_completed import JobCompleted
        from ..models.job_failed import JobFailed
        from ..models.job_metrics_recorded import JobMetricsRecorded
        from ..models.job_queued import JobQueued
        from ..models.job_retry_scheduled import JobRetryScheduled
        from ..models.job_running import JobRunning
        from ..models.job_status_changed import JobStatusChanged
        from ..models.job_submitted import JobSubmitted

        d = dict(src_dict)
        events = []
        _events = d.pop("events")
        for events_item_data in _events:

            def _parse_events_item(
                data: object,
            ) -> (
                JobCancelled
                | JobCompleted
                | JobFailed
                | JobMetricsRecorded
                | JobQueued
                | JobRetryScheduled
                | JobRunning
                | JobStatusChanged
                | JobSubmitted
            ):
                try:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_job_event_type_0 = JobSubmitted.from_dict(data)

                    return componentsschemas_job_event_type_0
                except (TypeError, ValueError, AttributeError, KeyError):
                    pass
                try:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_job_event_type_1 = JobQueued.from_dict(data)

                    return componentsschemas_job_event_type_1
                except (TypeError, ValueError, AttributeError, KeyError):
                    pass
                try:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_job_event_type_2 = JobRunning.from_dict(data)

                    return componentsschemas_job_event_type_2
                except (TypeError, ValueError, AttributeError, KeyError):
                    pass
                try:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_job_event_type_3 = JobCompleted.from_dict(data)

                    return componentsschemas_job_event_type_3
                except (TypeError, ValueError, AttributeError, KeyError):
                    pass
                try:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_job_event_type_4 = JobFailed.from_dict(data)

                    return componentsschemas_job_event_type_4
                except (TypeError, ValueError, AttributeError, KeyError):
                    pass
                try:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_job_event_type_5 = JobCancelled.from_dict(data)

                    return componentsschemas_job_event_type_5
                except (TypeError, ValueError, AttributeError, KeyError):
                    pass
                try:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_job_event_type_6 = JobStatusChanged.from_dict(
                        data
                    )

                    return componentsschemas_job_event_type_6
                except (TypeError, ValueError, AttributeError, KeyError):
                    pass
                try:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_job_event_type_7 = JobRetryScheduled.from_dict(
                        data
                    )

                    return componentsschemas_job_event_type_7
                except (TypeError, ValueError, AttributeError, KeyError):
                    pass
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_job_event_type_8 = JobMetricsRecorded.from_dict(data)

                return componentsschemas_job_event_type_8

            events_item = _parse_events_item(events_item_data)

            events.append(events_item)

        streams = []
        _streams = d.pop("streams")
        for streams_item_data in _streams:
            streams_item = EventStreamDto(streams_item_data)

            streams.append(streams_item)

        def _parse_next_after(data: object) -> None | Unset | UUID:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                next_after_type_0 = UUID(data)

                return next_after_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | UUID, data)

        next_after = _parse_next_after(d.pop("next_after", UNSET))

        event_list_dto = cls(
            events=events,
            streams=streams,
            next_after=next_after,
        )

        event_list_dto.additional_properties = d
        return event_list_dto

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
