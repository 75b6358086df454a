from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.clone_job_request import CloneJobRequest
from ...models.job_dto import JobDto
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    id: str,
    *,
    body: CloneJobRequest | Unset = UNSET,
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
        "url": "/v1/jobs/{id}/clone".format(
            id=quote(str(id), safe=""),
        ),
    }

    if not isinstance(body, Unset):
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

    if response.status_code == 404:
        response_404 = Problem.from_dict(response.json())

        return response_404

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
    id: str,
    *,
    client: AuthenticatedClient,
    body: CloneJobRequest | Unset = UNSET,
    idempotency_key: None | str | Unset = UNSET,
    x_correlation_id: None | str | Unset = UNSET,
    traceparent: None | str | Unset = UNSET,
) -> Response[JobDto | Problem]:
    """Submit a new job from an earlier one (resubmit): the same agent,
    dataset, parameters and resources, with any of them overridden, and the
    caller as its owner. The new job records `cloned_from`; the original
    lists its clones (`GET /v1/jobs/{id}`, `GET /v1/jobs?cloned_from=`).
    Validated like a submission, with an `Idempotency-Key` too.

    Args:
        id (str):
        idempotency_key (None | str | Unset):
        x_correlation_id (None | str | Unset):
        traceparent (None | str | Unset):
        body (CloneJobRequest | Unset): `POST /v1/jobs/{id}/clone`: what the new job changes;
            everything left
            out is the original's.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[JobDto | Problem]
    """

    kwargs = _get_kwargs(
        id=id,
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
    id: str,
    *,
    client: AuthenticatedClient,
    body: CloneJobRequest | Unset = UNSET,
    idempotency_key: None | str | Unset = UNSET,
    x_correlation_id: None | str | Unset = UNSET,
    traceparent: None | str | Unset = UNSET,
) -> JobDto | Problem | None:
    """Submit a new job from an earlier one (resubmit): the same agent,
    dataset, parameters and resources, with any of them overridden, and the
    caller as its owner. The new job records `cloned_from`; the original
    lists its clones (`GET /v1/jobs/{id}`, `GET /v1/jobs?cloned_from=`).
    Validated like a submission, with an `Idempotency-Key` too.

    Args:
        id (str):
        idempotency_key (None | str | Unset):
        x_correlation_id (None | str | Unset):
        traceparent (None | str | Unset):
        body (CloneJobRequest | Unset): `POST /v1/jobs/{id}/clone`: what the new job changes;
            everything left
            out is the original's.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        JobDto | Problem
    """

    return sync_detailed(
        id=id,
        client=client,
        body=body,
        idempotency_key=idempotency_key,
        x_correlation_id=x_correlation_id,
        traceparent=traceparent,
    ).parsed


async def asyncio_detailed(
    id: str,
    *,
    client: AuthenticatedClient,
    body: CloneJobRequest | Unset = UNSET,
    idempotency_key: None | str | Unset = UNSET,
    x_correlation_id: None | str | Unset = UNSET,
    traceparent: None | str | Unset = UNSET,
) -> Response[JobDto | Problem]:
    """Submit a new job from an earlier one (resubmit): the same agent,
    dataset, parameters and resources, with any of them overridden, and the
    caller as its owner. The new job records `cloned_from`; the original
    lists its clones (`GET /v1/jobs/{id}`, `GET /v1/jobs?cloned_from=`).
    Validated like a submission, with an `Idempotency-Key` too.

    Args:
        id (str):
        idempotency_key (None | str | Unset):
        x_correlation_id (None | str | Unset):
        traceparent (None | str | Unset):
        body (CloneJobRequest | Unset): `POST /v1/jobs/{id}/clone`: what the new job changes;
            everything left
            out is the original's.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[JobDto | Problem]
    """

    kwargs = _get_kwargs(
        id=id,
        body=body,
        idempotency_key=idempotency_key,
        x_correlation_id=x_correlation_id,
        traceparent=traceparent,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    id: str,
    *,
    client: AuthenticatedClient,
    body: CloneJobRequest | Unset = UNSET,
    idempotency_key: None | str | Unset = UNSET,
    x_correlation_id: None | str | Unset = UNSET,
    traceparent: None | str | Unset = UNSET,
) -> JobDto | Problem | None:
    """Submit a new job from an earlier one (resubmit): the same agent,
    dataset, parameters and resources, with any of them overridden, and the
    caller as its owner. The new job records `cloned_from`; the original
    lists its clones (`GET /v1/jobs/{id}`, `GET /v1/jobs?cloned_from=`).
    Validated like a submission, with an `Idempotency-Key` too.

    Args:
        id (str):
        idempotency_key (None | str | Unset):
        x_correlation_id (None | str | Unset):
        traceparent (None | str | Unset):
        body (CloneJobRequest | Unset): `POST /v1/jobs/{id}/clone`: what the new job changes;
            everything left
            out is the original's.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        JobDto | Problem
    """

    return (
        await asyncio_detailed(
            id=id,
            client=client,
            body=body,
            idempotency_key=idempotency_key,
            x_correlation_id=x_correlation_id,
            traceparent=traceparent,
        )
    ).parsed
