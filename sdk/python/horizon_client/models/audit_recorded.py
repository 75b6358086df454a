from __future__ import annotations

from collections.abc import Mapping
from typing import (
    Any,
    Literal,
    TypeVar,
    cast,
)

from attrs import define as _attrs_define
from typing_extensions import Self

from ..models.audit_recorded_auth_method_type_1 import AuditRecordedAuthMethodType1
from ..models.audit_recorded_outcome import AuditRecordedOutcome

T = TypeVar("T", bound="AuditRecorded")


@_attrs_define
class AuditRecorded:
    """One record of the audit trail: an authenticated write (submit, cancel, token creation, ...) or a refused access
    (401, 403, 404 on a job). Published on the audit-trail topic, keyed by event_id. Schema version 1.

        Attributes:
            action (str): job.submit, job.cancel, job.read, job.list, job.events, job.logs, agent.list, parked.list,
                parked.retry, audit.read, token.create, token.revoke, or `METHOD /route`
            actor (None | str): the authenticated user; null when the caller could not be identified (401)
            admin (bool): whether the actor acted as an admin
            auth_method (AuditRecordedAuthMethodType1 | None): how the actor proved who they are; null when unauthenticated
            client_address (None | str): peer address of the connection (with X-Forwarded-For when sent), or `local` for the
                CLI
            correlation_id (str): the request's X-Correlation-ID (for a submit: the job's), else a new one
            detail (None | str): why it was refused, when it was
            event_id (str): UUID v7; also the ce_id header and the Kafka key
            event_type (Literal['audit.recorded']):
            method (None | str): HTTP method
            outcome (AuditRecordedOutcome):
            path (None | str): the request path (no query string)
            schema_version (Literal[1]):
            status (int): the HTTP status answered; 0 outside HTTP (the CLI)
            target (None | str): what it was done to: a job id, a token id
            timestamp (str): RFC 3339 UTC, millisecond precision: when it happened
    """

    action: str
    actor: None | str
    admin: bool
    auth_method: AuditRecordedAuthMethodType1 | None
    client_address: None | str
    correlation_id: str
    detail: None | str
    event_id: str
    event_type: Literal["audit.recorded"]
    method: None | str
    outcome: AuditRecordedOutcome
    path: None | str
    schema_version: Literal[1]
    status: int
    target: None | str
    timestamp: str

    def to_dict(self) -> dict[str, Any]:
        action = self.action

        actor: None | str
        actor = self.actor

        admin = self.admin

        auth_method: None | str
        if isinstance(self.auth_method, AuditRecordedAuthMethodType1):
            auth_method = self.auth_method.value
        else:
            auth_method = self.auth_method

        client_address: None | str
        client_address = self.client_address

        correlation_id = self.correlation_id

        detail: None | str
        detail = self.detail

        event_id = self.event_id

        event_type = self.event_type

        method: None | str
        method = self.method

        outcome = self.outcome.value

        path: None | str
        path = self.path

        schema_version = self.schema_version

        status = self.status

        target: None | str
        target = self.target

        timestamp = self.timestamp

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "action": action,
                "actor": actor,
                "admin": admin,
                "auth_method": auth_method,
                "client_address": client_address,
                "correlation_id": correlation_id,
                "detail": detail,
                "event_id": event_id,
                "event_type": event_type,
                "method": method,
                "outcome": outcome,
                "path": path,
                "schema_version": schema_version,
                "status": status,
                "target": target,
                "timestamp": timestamp,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        action = d.pop("action")

        def _parse_actor(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        actor = _parse_actor(d.pop("actor"))

        admin = d.pop("admin")

        def _parse_auth_method(data: object) -> AuditRecordedAuthMethodType1 | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                auth_method_type_1 = AuditRecordedAuthMethodType1(data)

                return auth_method_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(AuditRecordedAuthMethodType1 | None, data)

        auth_method = _parse_auth_method(d.pop("auth_method"))

        def _parse_client_address(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        client_address = _parse_client_address(d.pop("client_address"))

        correlation_id = d.pop("correlation_id")

        def _parse_detail(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        detail = _parse_detail(d.pop("detail"))

        event_id = d.pop("event_id")

        event_type = cast(Literal["audit.recorded"], d.pop("event_type"))
        if event_type != "audit.recorded":
            raise ValueError(
                f"event_type must match const 'audit.recorded', got '{event_type}'"
            )

        def _parse_method(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        method = _parse_method(d.pop("method"))

        outcome = AuditRecordedOutcome(d.pop("outcome"))

        def _parse_path(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        path = _parse_path(d.pop("path"))

        schema_version = cast(Literal[1], d.pop("schema_version"))
        if schema_version != 1:
            raise ValueError(
                f"schema_version must match const 1, got '{schema_version}'"
            )

        status = d.pop("status")

        def _parse_target(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        target = _parse_target(d.pop("target"))

        timestamp = d.pop("timestamp")

        audit_recorded = cls(
            action=action,
            actor=actor,
            admin=admin,
            auth_method=auth_method,
            client_address=client_address,
            correlation_id=correlation_id,
            detail=detail,
            event_id=event_id,
            event_type=event_type,
            method=method,
            outcome=outcome,
            path=path,
            schema_version=schema_version,
            status=status,
            target=target,
            timestamp=timestamp,
        )

        return audit_recorded
