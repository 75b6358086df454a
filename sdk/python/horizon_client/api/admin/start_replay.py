from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.problem import Problem
from ...models.replay_progress_dto import ReplayProgressDto
from ...models.replay_request_dto import ReplayRequestDto
from ...types import Response


def _get_kwargs(
    *,
    body: ReplayRequestDto,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/admin/events/replay",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Problem | ReplayProgressDto | None:
    if response.status_code == 202:
        response_202 = ReplayProgressDto.from_dict(response.json())

        return response_202

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = Problem.from_dict(response.json())

        return response_403

    if response.status_code == 409:
        response_409 = Problem.from_dict(response.json())

        return response_409

    if response.status_code == 413:
        response_413 = Problem.from_dict(response.json())

        return response_413

    if response.status_code == 415:
        response_415 = Problem.from_dict(response.json())

        return response_415

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
) -> Response[Problem | ReplayProgressDto]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: ReplayRequestDto,
) -> Response[Problem | ReplayProgressDto]:
    """Publish stored events to Kafka again, byte for byte, each with a
    `horizon-replay` header naming this replay: one job's (`job_id`), a time
    range's (`since`), or from an outbox position on; to their own topics
    or to `to_topic`. Runs in the background at `rate_per_second`; poll its
    progress. **Admin only.**

    Args:
        body (ReplayRequestDto):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | ReplayProgressDto]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    body: ReplayRequestDto,
) -> Problem | ReplayProgressDto | None:
    """Publish stored events to Kafka again, byte for byte, each with a
    `horizon-replay` header naming this replay: one job's (`job_id`), a time
    range's (`since`), or from an outbox position on; to their own topics
    or to `to_topic`. Runs in the background at `rate_per_second`; poll its
    progress. **Admin only.**

    Args:
        body (ReplayRequestDto):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | ReplayProgressDto
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: ReplayRequestDto,
) -> Response[Problem | ReplayProgressDto]:
    """Publish stored events to Kafka again, byte for byte, each with a
    `horizon-replay` header naming this replay: one job's (`job_id`), a time
    range's (`since`), or from an outbox position on; to their own topics
    or to `to_topic`. Runs in the background at `rate_per_second`; poll its
    progress. **Admin only.**

    Args:
        body (ReplayRequestDto):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | ReplayProgressDto]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: ReplayRequestDto,
) -> Problem | ReplayProgressDto | None:
    """Publish stored events to Kafka again, byte for byte, each with a
    `horizon-replay` header naming this replay: one job's (`job_id`), a time
    range's (`since`), or from an outbox position on; to their own topics
    or to `to_topic`. Runs in the background at `rate_per_second`; poll its
    progress. **Admin only.**

    Args:
        body (ReplayRequestDto):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | ReplayProgressDto
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed
