import datetime
from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.audit_list_dto import AuditListDto
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    after: int | Unset = UNSET,
    limit: int | Unset = UNSET,
    actor: str | Unset = UNSET,
    action: str | Unset = UNSET,
    target: str | Unset = UNSET,
    outcome: str | Unset = UNSET,
    since: datetime.datetime | Unset = UNSET,
    until: datetime.datetime | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["after"] = after

    params["limit"] = limit

    params["actor"] = actor

    params["action"] = action

    params["target"] = target

    params["outcome"] = outcome

    json_since: str | Unset = UNSET
    if not isinstance(since, Unset):
        json_since = since.isoformat()
    params["since"] = json_since

    json_until: str | Unset = UNSET
    if not isinstance(until, Unset):
        json_until = until.isoformat()
    params["until"] = json_until

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/audit",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> AuditListDto | Problem | None:
    if response.status_code == 200:
        response_200 = AuditListDto.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = Problem.from_dict(response.json())

        return response_403

    if response.status_code == 422:
        response_422 = Problem.from_dict(response.json())

        return response_422

    if response.status_code == 500:
        response_500 = Problem.from_dict(response.json())

        return response_500

    if response.status_code == 503:
        response_503 = Problem.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[AuditListDto | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    after: int | Unset = UNSET,
    limit: int | Unset = UNSET,
    actor: str | Unset = UNSET,
    action: str | Unset = UNSET,
    target: str | Unset = UNSET,
    outcome: str | Unset = UNSET,
    since: datetime.datetime | Unset = UNSET,
    until: datetime.datetime | Unset = UNSET,
) -> Response[AuditListDto | Problem]:
    """The audit trail: every authenticated write and every refused access,
    oldest first. **Admin only.**

    Args:
        after (int | Unset):
        limit (int | Unset):
        actor (str | Unset):
        action (str | Unset):
        target (str | Unset):
        outcome (str | Unset):
        since (datetime.datetime | Unset):
        until (datetime.datetime | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[AuditListDto | Problem]
    """

    kwargs = _get_kwargs(
        after=after,
        limit=limit,
        actor=actor,
        action=action,
        target=target,
        outcome=outcome,
        since=since,
        until=until,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    after: int | Unset = UNSET,
    limit: int | Unset = UNSET,
    actor: str | Unset = UNSET,
    action: str | Unset = UNSET,
    target: str | Unset = UNSET,
    outcome: str | Unset = UNSET,
    since: datetime.datetime | Unset = UNSET,
    until: datetime.datetime | Unset = UNSET,
) -> AuditListDto | Problem | None:
    """The audit trail: every authenticated write and every refused access,
    oldest first. **Admin only.**

    Args:
        after (int | Unset):
        limit (int | Unset):
        actor (str | Unset):
        action (str | Unset):
        target (str | Unset):
        outcome (str | Unset):
        since (datetime.datetime | Unset):
        until (datetime.datetime | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        AuditListDto | Problem
    """

    return sync_detailed(
        client=client,
        after=after,
        limit=limit,
        actor=actor,
        action=action,
        target=target,
        outcome=outcome,
        since=since,
        until=until,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    after: int | Unset = UNSET,
    limit: int | Unset = UNSET,
    actor: str | Unset = UNSET,
    action: str | Unset = UNSET,
    target: str | Unset = UNSET,
    outcome: str | Unset = UNSET,
    since: datetime.datetime | Unset = UNSET,
    until: datetime.datetime | Unset = UNSET,
) -> Response[AuditListDto | Problem]:
    """The audit trail: every authenticated write and every refused access,
    oldest first. **Admin only.**

    Args:
        after (int | Unset):
        limit (int | Unset):
        actor (str | Unset):
        action (str | Unset):
        target (str | Unset):
        outcome (str | Unset):
        since (datetime.datetime | Unset):
        until (datetime.datetime | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[AuditListDto | Problem]
    """

    kwargs = _get_kwargs(
        after=after,
        limit=limit,
        actor=actor,
        action=action,
        target=target,
        outcome=outcome,
        since=since,
        until=until,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    after: int | Unset = UNSET,
    limit: int | Unset = UNSET,
    actor: str | Unset = UNSET,
    action: str | Unset = UNSET,
    target: str | Unset = UNSET,
    outcome: str | Unset = UNSET,
    since: datetime.datetime | Unset = UNSET,
    until: datetime.datetime | Unset = UNSET,
) -> AuditListDto | Problem | None:
    """The audit trail: every authenticated write and every refused access,
    oldest first. **Admin only.**

    Args:
        after (int | Unset):
        limit (int | Unset):
        actor (str | Unset):
        action (str | Unset):
        target (str | Unset):
        outcome (str | Unset):
        since (datetime.datetime | Unset):
        until (datetime.datetime | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        AuditListDto | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            after=after,
            limit=limit,
            actor=actor,
            action=action,
            target=target,
            outcome=outcome,
            since=since,
            until=until,
        )
    ).parsed
