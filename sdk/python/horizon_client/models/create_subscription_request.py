from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from typing_extensions import Self

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.create_subscription_request_email_type_0 import (
        CreateSubscriptionRequestEmailType0,
    )


T = TypeVar("T", bound="CreateSubscriptionRequest")


@_attrs_define
class CreateSubscriptionRequest:
    """
    Attributes:
        agent (None | str | Unset): Only jobs of this agent.
        email (CreateSubscriptionRequestEmailType0 | None | Unset): E-mail instead of a POST (when the server has
            `[email]`): an
            address, or `true` for the `email` claim of the caller's JWT. Jobs
            ending together come as one digest. Default event types: a job's end.
        event_types (list[str] | Unset): Event types to deliver (`job.completed`, …); absent or empty: every
            lifecycle event (metrics samples only when `job.metrics_recorded`
            is named).
        status (None | str | Unset): Only events that leave a job in this status (`COMPLETED`, `FAILED`, …).
        url (None | str | Unset): Where deliveries are POSTed: http(s), a public address (unless the
            server allows private ones); redirects are not followed. Or, instead:
    """

    agent: None | str | Unset = UNSET
    email: CreateSubscriptionRequestEmailType0 | None | Unset = UNSET
    event_types: list[str] | Unset = UNSET
    status: None | str | Unset = UNSET
    url: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.create_subscription_request_email_type_0 import (
            CreateSubscriptionRequestEmailType0,
        )

        agent: None | str | Unset
        if isinstance(self.agent, Unset):
            agent = UNSET
        else:
            agent = self.agent

        email: dict[str, Any] | None | Unset
        if isinstance(self.email, Unset):
            email = UNSET
        elif isinstance(self.email, CreateSubscriptionRequestEmailType0):
            email = self.email.to_dict()
        else:
            email = self.email

        event_types: list[str] | Unset = UNSET
        if not isinstance(self.event_types, Unset):
            event_types = self.event_types

        status: None | str | Unset
        if isinstance(self.status, Unset):
            status = UNSET
        else:
            status = self.status

        url: None | str | Unset
        if isinstance(self.url, Unset):
            url = UNSET
        else:
            url = self.url

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if agent is not UNSET:
            field_dict["agent"] = agent
        if email is not UNSET:
            field_dict["email"] = email
        if event_types is not UNSET:
            field_dict["event_types"] = event_types
        if status is not UNSET:
            field_dict["status"] = status
        if url is not UNSET:
            field_dict["url"] = url

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.create_subscription_request_email_type_0 import (
            CreateSubscriptionRequestEmailType0,
        )

        d = dict(src_dict)

        def _parse_agent(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        agent = _parse_agent(d.pop("agent", UNSET))

        def _parse_email(
            data: object,
        ) -> CreateSubscriptionRequestEmailType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                email_type_0 = CreateSubscriptionRequestEmailType0.from_dict(data)

                return email_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(CreateSubscriptionRequestEmailType0 | None | Unset, data)

        email = _parse_email(d.pop("email", UNSET))

        event_types = cast(list[str], d.pop("event_types", UNSET))

        def _parse_status(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        status = _parse_status(d.pop("status", UNSET))

        def _parse_url(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        url = _parse_url(d.pop("url", UNSET))

        create_subscription_request = cls(
            agent=agent,
            email=email,
            event_types=event_types,
            status=status,
            url=url,
        )

        return create_subscription_request
