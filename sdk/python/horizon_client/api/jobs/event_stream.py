from http import HTTPStatus
from typing import Any, cast

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    user: str | Unset = UNSET,
    agent: str | Unset = UNSET,
    status: str | Unset = UNSET,
    last_event_id: None | str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(last_event_id, Unset):
        headers["Last-Event-ID"] = last_event_id

    params: dict[str, Any] = {}

    params["user"] = user

    params["agent"] = agent

    params["status"] = status

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/events/stream",
        "params": params,
    }

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Any | Problem | None:
    if response.status_code == 200:
        response_200 = cast(Any, None)
        return response_200

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 422:
        response_422 = Problem.from_dict(response.json())

        return response_422

    if response.status_code == 429:
        response_429 = Problem.from_dict(response.json())

        return response_429

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
) -> Response[Any | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    user: str | Unset = UNSET,
    agent: str | Unset = UNSET,
    status: str | Unset = UNSET,
    last_event_id: None | str | Unset = UNSET,
) -> Response[Any | Problem]:
    """The events of the caller's jobs (an admin: of every job, or of one
    user's) as Server-Sent Events, in commit order, from now (or after
    `Last-Event-ID`). Metrics samples included.

    Args:
        user (str | Unset):
        agent (str | Unset):
        status (str | Unset):
        last_event_id (None | str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | Problem]
    """

    kwargs = _get_kwargs(
        user=user,
        agent=agent,
        status=status,
        last_event_id=last_event_id,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    user: str | Unset = UNSET,
    agent: str | Unset = UNSET,
    status: str | Unset = UNSET,
    last_event_id: None | str | Unset = UNSET,
) -> Any | Problem | None:
    """The events of the caller's jobs (an admin: of every job, or of one
    user's) as Server-Sent Events, in commit order, from now (or after
    `Last-Event-ID`). Metrics samples included.

    Args:
        user (str | Unset):
        agent (str | Unset):
        status (str | Unset):
        last_event_id (None | str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | Problem
    """

    return sync_detailed(
        client=client,
        user=user,
        agent=agent,
        status=status,
        last_event_id=last_event_id,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    user: str | Unset = UNSET,
    agent: str | Unset = UNSET,
    status: str | Unset = UNSET,
    last_event_id: None | str | Unset = UNSET,
) -> Response[Any | Problem]:
    """The events of the caller's jobs (an admin: of every job, or of one
    user's) as Server-Sent Events, in commit order, from now (or after
    `Last-Event-ID`). Metrics samples included.

    Args:
        user (str | Unset):
        agent (str | Unset):
        status (str | Unset):
        last_event_id (None | str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | Problem]
    """

    kwargs = _get_kwargs(
        user=user,
        agent=agent,
        status=status,
        last_event_id=last_event_id,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    user: str | Unset = UNSET,
    agent: str | Unset = UNSET,
    status: str | Unset = UNSET,
    last_event_id: None | str | Unset = UNSET,
) -> Any | Problem | None:
    """The events of the caller's jobs (an admin: of every job, or of one
    user's) as Server-Sent Events, in commit order, from now (or after
    `Last-Event-ID`). Metrics samples included.

    Args:
        user (str | Unset):
        agent (str | Unset):
        status (str | Unset):
        last_event_id (None | str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            user=user,
            agent=agent,
            status=status,
            last_event_id=last_event_id,
        )
    ).parsed
