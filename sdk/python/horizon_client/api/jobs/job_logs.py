from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    id: str,
    *,
    stream: str | Unset = UNSET,
    tail: int | Unset = UNSET,
    offset: int | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["stream"] = stream

    params["tail"] = tail

    params["offset"] = offset

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/jobs/{id}/logs".format(
            id=quote(str(id), safe=""),
        ),
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Problem | str | None:
    if response.status_code == 200:
        response_200 = response.text
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

    if response.status_code == 404:
        response_404 = Problem.from_dict(response.json())

        return response_404

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
) -> Response[Problem | str]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    id: str,
    *,
    client: AuthenticatedClient,
    stream: str | Unset = UNSET,
    tail: int | Unset = UNSET,
    offset: int | Unset = UNSET,
) -> Response[Problem | str]:
    """A job's output: the last `LOG_LIMIT_BYTES` at most, or its last `tail`
    lines within them, or (with `offset`) what came after that byte. Only the
    job's owner may read it. `X-Log-Size` gives the log's whole size, and
    `X-Log-Start` where the body starts in it.

    Args:
        id (str):
        stream (str | Unset):
        tail (int | Unset):
        offset (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | str]
    """

    kwargs = _get_kwargs(
        id=id,
        stream=stream,
        tail=tail,
        offset=offset,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    id: str,
    *,
    client: AuthenticatedClient,
    stream: str | Unset = UNSET,
    tail: int | Unset = UNSET,
    offset: int | Unset = UNSET,
) -> Problem | str | None:
    """A job's output: the last `LOG_LIMIT_BYTES` at most, or its last `tail`
    lines within them, or (with `offset`) what came after that byte. Only the
    job's owner may read it. `X-Log-Size` gives the log's whole size, and
    `X-Log-Start` where the body starts in it.

    Args:
        id (str):
        stream (str | Unset):
        tail (int | Unset):
        offset (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | str
    """

    return sync_detailed(
        id=id,
        client=client,
        stream=stream,
        tail=tail,
        offset=offset,
    ).parsed


async def asyncio_detailed(
    id: str,
    *,
    client: AuthenticatedClient,
    stream: str | Unset = UNSET,
    tail: int | Unset = UNSET,
    offset: int | Unset = UNSET,
) -> Response[Problem | str]:
    """A job's output: the last `LOG_LIMIT_BYTES` at most, or its last `tail`
    lines within them, or (with `offset`) what came after that byte. Only the
    job's owner may read it. `X-Log-Size` gives the log's whole size, and
    `X-Log-Start` where the body starts in it.

    Args:
        id (str):
        stream (str | Unset):
        tail (int | Unset):
        offset (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | str]
    """

    kwargs = _get_kwargs(
        id=id,
        stream=stream,
        tail=tail,
        offset=offset,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    id: str,
    *,
    client: AuthenticatedClient,
    stream: str | Unset = UNSET,
    tail: int | Unset = UNSET,
    offset: int | Unset = UNSET,
) -> Problem | str | None:
    """A job's output: the last `LOG_LIMIT_BYTES` at most, or its last `tail`
    lines within them, or (with `offset`) what came after that byte. Only the
    job's owner may read it. `X-Log-Size` gives the log's whole size, and
    `X-Log-Start` where the body starts in it.

    Args:
        id (str):
        stream (str | Unset):
        tail (int | Unset):
        offset (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | str
    """

    return (
        await asyncio_detailed(
            id=id,
            client=client,
            stream=stream,
            tail=tail,
            offset=offset,
        )
    ).parsed
