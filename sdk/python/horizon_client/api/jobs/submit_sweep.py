from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.problem import Problem
from ...models.sweep_dto import SweepDto
from ...models.sweep_request import SweepRequest
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    body: SweepRequest,
    idempotency_key: None | str | Unset = UNSET,
    x_correlation_id: None | str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(idempotency_key, Unset):
        headers["Idempotency-Key"] = idempotency_key

    if not isinstance(x_correlation_id, Unset):
        headers["X-Correlation-ID"] = x_correlation_id

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/sweeps",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Problem | SweepDto | None:
    if response.status_code == 201:
        response_201 = SweepDto.from_dict(response.json())

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
) -> Response[Problem | SweepDto]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: SweepRequest,
    idempotency_key: None | str | Unset = UNSET,
    x_correlation_id: None | str | Unset = UNSET,
) -> Response[Problem | SweepDto]:
    """Submit a sweep: one job per point, all made (with their `job.submitted`
    events and the sweep's `sweep.submitted`) in one transaction before the
    answer.

    Args:
        idempotency_key (None | str | Unset):
        x_correlation_id (None | str | Unset):
        body (SweepRequest): `POST /v1/sweeps`: an agent over a dataset (or several), with a grid
            of
            parameters or a list of parameter sets; at most 100,000 points.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | SweepDto]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
        x_correlation_id=x_correlation_id,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    body: SweepRequest,
    idempotency_key: None | str | Unset = UNSET,
    x_correlation_id: None | str | Unset = UNSET,
) -> Problem | SweepDto | None:
    """Submit a sweep: one job per point, all made (with their `job.submitted`
    events and the sweep's `sweep.submitted`) in one transaction before the
    answer.

    Args:
        idempotency_key (None | str | Unset):
        x_correlation_id (None | str | Unset):
        body (SweepRequest): `POST /v1/sweeps`: an agent over a dataset (or several), with a grid
            of
            parameters or a list of parameter sets; at most 100,000 points.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | SweepDto
    """

    return sync_detailed(
        client=client,
        body=body,
        idempotency_key=idempotency_key,
        x_correlation_id=x_correlation_id,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: SweepRequest,
    idempotency_key: None | str | Unset = UNSET,
    x_correlation_id: None | str | Unset = UNSET,
) -> Response[Problem | SweepDto]:
    """Submit a sweep: one job per point, all made (with their `job.submitted`
    events and the sweep's `sweep.submitted`) in one transaction before the
    answer.

    Args:
        idempotency_key (None | str | Unset):
        x_correlation_id (None | str | Unset):
        body (SweepRequest): `POST /v1/sweeps`: an agent over a dataset (or several), with a grid
            of
            parameters or a list of parameter sets; at most 100,000 points.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | SweepDto]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
        x_correlation_id=x_correlation_id,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: SweepRequest,
    idempotency_key: None | str | Unset = UNSET,
    x_correlation_id: None | str | Unset = UNSET,
) -> Problem | SweepDto | None:
    """Submit a sweep: one job per point, all made (with their `job.submitted`
    events and the sweep's `sweep.submitted`) in one transaction before the
    answer.

    Args:
        idempotency_key (None | str | Unset):
        x_correlation_id (None | str | Unset):
        body (SweepRequest): `POST /v1/sweeps`: an agent over a dataset (or several), with a grid
            of
            parameters or a list of parameter sets; at most 100,000 points.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | SweepDto
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
            idempotency_key=idempotency_key,
            x_correlation_id=x_correlation_id,
        )
    ).parsed
