from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.host_gone_dto import HostGoneDto
from ...models.problem import Problem
from ...types import Response


def _get_kwargs(
    host: str,
) -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/admin/hosts/{host}/gone".format(
            host=quote(str(host), safe=""),
        ),
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> HostGoneDto | Problem | None:
    if response.status_code == 200:
        response_200 = HostGoneDto.from_dict(response.json())

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
) -> Response[HostGoneDto | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    host: str,
    *,
    client: AuthenticatedClient,
) -> Response[HostGoneDto | Problem]:
    """Say a host is gone for good (several processes on one database): the
    local jobs its silent processes held may then be taken over by any
    process, which records their programs as lost (`AGENT_LOST`). Until
    then only a process on the same host with the same `[local] jobs_dir`
    adopts them, since their programs may still run there. A live process
    on the host is not affected. **Admin only.**

    Args:
        host (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[HostGoneDto | Problem]
    """

    kwargs = _get_kwargs(
        host=host,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    host: str,
    *,
    client: AuthenticatedClient,
) -> HostGoneDto | Problem | None:
    """Say a host is gone for good (several processes on one database): the
    local jobs its silent processes held may then be taken over by any
    process, which records their programs as lost (`AGENT_LOST`). Until
    then only a process on the same host with the same `[local] jobs_dir`
    adopts them, since their programs may still run there. A live process
    on the host is not affected. **Admin only.**

    Args:
        host (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        HostGoneDto | Problem
    """

    return sync_detailed(
        host=host,
        client=client,
    ).parsed


async def asyncio_detailed(
    host: str,
    *,
    client: AuthenticatedClient,
) -> Response[HostGoneDto | Problem]:
    """Say a host is gone for good (several processes on one database): the
    local jobs its silent processes held may then be taken over by any
    process, which records their programs as lost (`AGENT_LOST`). Until
    then only a process on the same host with the same `[local] jobs_dir`
    adopts them, since their programs may still run there. A live process
    on the host is not affected. **Admin only.**

    Args:
        host (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[HostGoneDto | Problem]
    """

    kwargs = _get_kwargs(
        host=host,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    host: str,
    *,
    client: AuthenticatedClient,
) -> HostGoneDto | Problem | None:
    """Say a host is gone for good (several processes on one database): the
    local jobs its silent processes held may then be taken over by any
    process, which records their programs as lost (`AGENT_LOST`). Until
    then only a process on the same host with the same `[local] jobs_dir`
    adopts them, since their programs may still run there. A live process
    on the host is not affected. **Admin only.**

    Args:
        host (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        HostGoneDto | Problem
    """

    return (
        await asyncio_detailed(
            host=host,
            client=client,
        )
    ).parsed
