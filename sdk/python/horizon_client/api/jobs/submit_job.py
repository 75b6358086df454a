from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.job_dto import JobDto
from ...models.problem import Problem
from ...models.submit_job_request import SubmitJobRequest
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    body: SubmitJobRequest,
    idempotency_key: None | str | Unset = UNSET,
    x_correlation_id: None | str | Unset = UNSET,
    traceparent: None | str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(idempotency_key, Unset):
        headers["Idempotency-Key"] = idempotency_key

    if not isinstance(x_correlation_id, Unset):
        headers["X-Correlation-ID"] = x_correlation_id

    if not isinstance(traceparent, Unset):
        headers["traceparent"] = traceparent

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/jobs",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> JobDto | Problem | None:
    if response.status_code == 201:
        response_201 = JobDto.from_dict(response.json())

        return response_201

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = Problem.from_dict(response.json())

        return response_403

    if response.status_code == 413:
        response_413 = Problem.from_dict(response.json())

        return response_413

    if response.status_code == 415:
        response_415 = Problem.from_dict(response.json())

        return response_415

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
) -> Response[JobDto | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: SubmitJobRequest,
    idempotency_key: None | str | Unset = UNSET,
    x_correlation_id: None | str | Unset = UNSET,
    traceparent: None | str | Unset = UNSET,
) -> Response[JobDto | Problem]:
    """Submit a job.

    Args:
        idempotency_key (None | str | Unset):
        x_correlation_id (None | str | Unset):
        traceparent (None | str | Unset):
        body (SubmitJobRequest): `POST /v1/jobs`

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[JobDto | Problem]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
        x_correlation_id=x_correlation_id,
        traceparent=traceparent,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    body: SubmitJobRequest,
    idempotency_key: None | str | Unset = UNSET,
    x_correlation_id: None | str | Unset = UNSET,
    traceparent: None | str | Unset = UNSET,
) -> JobDto | Problem | None:
    """Submit a job.

    Args:
        idempotency_key (None | str | Unset):
        x_correlation_id (None | str | Unset):
        traceparent (None | str | Unset):
        body (SubmitJobRequest): `POST /v1/jobs`

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        JobDto | Problem
    """

    return sync_detailed(
        client=client,
        body=body,
        idempotency_key=idempotency_key,
        x_correlation_id=x_correlation_id,
        traceparent=traceparent,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: SubmitJobRequest,
    idempotency_key: None | str | Unset = UNSET,
    x_correlation_id: None | str | Unset = UNSET,
    traceparent: None | str | Unset = UNSET,
) -> Response[JobDto | Problem]:
    """Submit a job.

    Args:
        idempotency_key (None | str | Unset):
        x_correlation_id (None | str | Unset):
        traceparent (None | str | Unset):
        body (SubmitJobRequest): `POST /v1/jobs`

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[JobDto | Problem]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
        x_correlation_id=x_correlation_id,
        traceparent=traceparent,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: SubmitJobRequest,
    idempotency_key: None | str | Unset = UNSET,
    x_correlation_id: None | str | Unset = UNSET,
    traceparent: None | str | Unset = UNSET,
) -> JobDto | Problem | None:
    """Submit a job.

    Args:
        idempotency_key (None | str | Unset):
        x_correlation_id (None | str | Unset):
        traceparent (None | str | Unset):
        body (SubmitJobRequest): `POST /v1/jobs`

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        JobDto | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
            idempotency_key=idempotency_key,
            x_correlation_id=x_correlation_id,
            traceparent=traceparent,
        )
    ).parsed
