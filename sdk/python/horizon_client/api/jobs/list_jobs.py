import datetime
from http import HTTPStatus
from typing import Any
from uuid import UUID

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.job_list_dto import JobListDto
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    status: str | Unset = UNSET,
    user: str | Unset = UNSET,
    agent: str | Unset = UNSET,
    dataset_id: str | Unset = UNSET,
    cloned_from: UUID | Unset = UNSET,
    sweep_id: UUID | Unset = UNSET,
    created_after: datetime.datetime | Unset = UNSET,
    created_before: datetime.datetime | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: UUID | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["status"] = status

    params["user"] = user

    params["agent"] = agent

    params["dataset_id"] = dataset_id

    json_cloned_from: str | Unset = UNSET
    if not isinstance(cloned_from, Unset):
        json_cloned_from = str(cloned_from)
    params["cloned_from"] = json_cloned_from

    json_sweep_id: str | Unset = UNSET
    if not isinstance(sweep_id, Unset):
        json_sweep_id = str(sweep_id)
    params["sweep_id"] = json_sweep_id

    json_created_after: str | Unset = UNSET
    if not isinstance(created_after, Unset):
        json_created_after = created_after.isoformat()
    params["created_after"] = json_created_after

    json_created_before: str | Unset = UNSET
    if not isinstance(created_before, Unset):
        json_created_before = created_before.isoformat()
    params["created_before"] = json_created_before

    params["limit"] = limit

    json_cursor: str | Unset = UNSET
    if not isinstance(cursor, Unset):
        json_cursor = str(cursor)
    params["cursor"] = json_cursor

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/jobs",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> JobListDto | Problem | None:
    if response.status_code == 200:
        response_200 = JobListDto.from_dict(response.json())

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
) -> Response[JobListDto | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    status: str | Unset = UNSET,
    user: str | Unset = UNSET,
    agent: str | Unset = UNSET,
    dataset_id: str | Unset = UNSET,
    cloned_from: UUID | Unset = UNSET,
    sweep_id: UUID | Unset = UNSET,
    created_after: datetime.datetime | Unset = UNSET,
    created_before: datetime.datetime | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: UUID | Unset = UNSET,
) -> Response[JobListDto | Problem]:
    """The caller's jobs, newest first. **Admin:** every user's jobs (`user`
    narrows them to one). An unknown query parameter is a 400 naming it.

    Args:
        status (str | Unset):
        user (str | Unset):
        agent (str | Unset):
        dataset_id (str | Unset):
        cloned_from (UUID | Unset):
        sweep_id (UUID | Unset):
        created_after (datetime.datetime | Unset):
        created_before (datetime.datetime | Unset):
        limit (int | Unset):
        cursor (UUID | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[JobListDto | Problem]
    """

    kwargs = _get_kwargs(
        status=status,
        user=user,
        agent=agent,
        dataset_id=dataset_id,
        cloned_from=cloned_from,
        sweep_id=sweep_id,
        created_after=created_after,
        created_before=created_before,
        limit=limit,
        cursor=cursor,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    status: str | Unset = UNSET,
    user: str | Unset = UNSET,
    agent: str | Unset = UNSET,
    dataset_id: str | Unset = UNSET,
    cloned_from: UUID | Unset = UNSET,
    sweep_id: UUID | Unset = UNSET,
    created_after: datetime.datetime | Unset = UNSET,
    created_before: datetime.datetime | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: UUID | Unset = UNSET,
) -> JobListDto | Problem | None:
    """The caller's jobs, newest first. **Admin:** every user's jobs (`user`
    narrows them to one). An unknown query parameter is a 400 naming it.

    Args:
        status (str | Unset):
        user (str | Unset):
        agent (str | Unset):
        dataset_id (str | Unset):
        cloned_from (UUID | Unset):
        sweep_id (UUID | Unset):
        created_after (datetime.datetime | Unset):
        created_before (datetime.datetime | Unset):
        limit (int | Unset):
        cursor (UUID | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        JobListDto | Problem
    """

    return sync_detailed(
        client=client,
        status=status,
        user=user,
        agent=agent,
        dataset_id=dataset_id,
        cloned_from=cloned_from,
        sweep_id=sweep_id,
        created_after=created_after,
        created_before=created_before,
        limit=limit,
        cursor=cursor,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    status: str | Unset = UNSET,
    user: str | Unset = UNSET,
    agent: str | Unset = UNSET,
    dataset_id: str | Unset = UNSET,
    cloned_from: UUID | Unset = UNSET,
    sweep_id: UUID | Unset = UNSET,
    created_after: datetime.datetime | Unset = UNSET,
    created_before: datetime.datetime | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: UUID | Unset = UNSET,
) -> Response[JobListDto | Problem]:
    """The caller's jobs, newest first. **Admin:** every user's jobs (`user`
    narrows them to one). An unknown query parameter is a 400 naming it.

    Args:
        status (str | Unset):
        user (str | Unset):
        agent (str | Unset):
        dataset_id (str | Unset):
        cloned_from (UUID | Unset):
        sweep_id (UUID | Unset):
        created_after (datetime.datetime | Unset):
        created_before (datetime.datetime | Unset):
        limit (int | Unset):
        cursor (UUID | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[JobListDto | Problem]
    """

    kwargs = _get_kwargs(
        status=status,
        user=user,
        agent=agent,
        dataset_id=dataset_id,
        cloned_from=cloned_from,
        sweep_id=sweep_id,
        created_after=created_after,
        created_before=created_before,
        limit=limit,
        cursor=cursor,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    status: str | Unset = UNSET,
    user: str | Unset = UNSET,
    agent: str | Unset = UNSET,
    dataset_id: str | Unset = UNSET,
    cloned_from: UUID | Unset = UNSET,
    sweep_id: UUID | Unset = UNSET,
    created_after: datetime.datetime | Unset = UNSET,
    created_before: datetime.datetime | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: UUID | Unset = UNSET,
) -> JobListDto | Problem | None:
    """The caller's jobs, newest first. **Admin:** every user's jobs (`user`
    narrows them to one). An unknown query parameter is a 400 naming it.

    Args:
        status (str | Unset):
        user (str | Unset):
        agent (str | Unset):
        dataset_id (str | Unset):
        cloned_from (UUID | Unset):
        sweep_id (UUID | Unset):
        created_after (datetime.datetime | Unset):
        created_before (datetime.datetime | Unset):
        limit (int | Unset):
        cursor (UUID | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        JobListDto | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            status=status,
            user=user,
            agent=agent,
            dataset_id=dataset_id,
            cloned_from=cloned_from,
            sweep_id=sweep_id,
            created_after=created_after,
            created_before=created_before,
            limit=limit,
            cursor=cursor,
        )
    ).parsed
