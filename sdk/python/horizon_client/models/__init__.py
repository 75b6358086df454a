"""Contains all the data models used in inputs/outputs"""

from .agent_dto import AgentDto
from .agent_dto_parameters import AgentDtoParameters
from .agent_list_dto import AgentListDto
from .agent_stats_dto import AgentStatsDto
from .agent_stats_list_dto import AgentStatsListDto
from .audit_list_dto import AuditListDto
from .audit_recorded import AuditRecorded
from .audit_recorded_auth_method_type_1 import AuditRecordedAuthMethodType1
from .audit_recorded_outcome import AuditRecordedOutcome
from .backend_dto import BackendDto
from .cancel_job_request import CancelJobRequest
from .clone_job_request import CloneJobRequest
from .clone_job_request_parameters_type_0 import CloneJobRequestParametersType0
from .cluster_dto import ClusterDto
from .cluster_dto_relay import ClusterDtoRelay
from .create_subscription_request import CreateSubscriptionRequest
from .create_subscription_request_email_type_0 import (
    CreateSubscriptionRequestEmailType0,
)
from .create_token_request import CreateTokenRequest
from .created_token_dto import CreatedTokenDto
from .delivery_dto import DeliveryDto
from .delivery_list_dto import DeliveryListDto
from .dependency_condition_dto import DependencyConditionDto
from .dependency_dto import DependencyDto
from .event_list_dto import EventListDto
from .event_stream_dto import EventStreamDto
from .hold_job_request import HoldJobRequest
from .host_gone_dto import HostGoneDto
from .job_cancelled import JobCancelled
from .job_cancelled_payload import JobCancelledPayload
from .job_cancelled_previous_status import JobCancelledPreviousStatus
from .job_cancelled_status import JobCancelledStatus
from .job_completed import JobCompleted
from .job_completed_payload import JobCompletedPayload
from .job_completed_previous_status import JobCompletedPreviousStatus
from .job_completed_status import JobCompletedStatus
from .job_dto import JobDto
from .job_dto_parameters import JobDtoParameters
from .job_error_dto import JobErrorDto
from .job_failed import JobFailed
from .job_failed_payload import JobFailedPayload
from .job_failed_previous_status import JobFailedPreviousStatus
from .job_failed_status import JobFailedStatus
from .job_list_dto import JobListDto
from .job_metrics_recorded import JobMetricsRecorded
from .job_metrics_recorded_payload import JobMetricsRecordedPayload
from .job_metrics_recorded_status import JobMetricsRecordedStatus
from .job_queued import JobQueued
from .job_queued_payload import JobQueuedPayload
from .job_queued_payload_backend import JobQueuedPayloadBackend
from .job_queued_previous_status import JobQueuedPreviousStatus
from .job_queued_status import JobQueuedStatus
from .job_retry_scheduled import JobRetryScheduled
from .job_retry_scheduled_payload import JobRetryScheduledPayload
from .job_retry_scheduled_payload_resources import JobRetryScheduledPayloadResources
from .job_retry_scheduled_previous_status import JobRetryScheduledPreviousStatus
from .job_running import JobRunning
from .job_running_payload import JobRunningPayload
from .job_running_previous_status import JobRunningPreviousStatus
from .job_running_status import JobRunningStatus
from .job_status_changed import JobStatusChanged
from .job_status_changed_payload import JobStatusChangedPayload
from .job_status_changed_payload_current_status import (
    JobStatusChangedPayloadCurrentStatus,
)
from .job_status_changed_payload_previous_status import (
    JobStatusChangedPayloadPreviousStatus,
)
from .job_status_changed_previous_status import JobStatusChangedPreviousStatus
from .job_status_changed_status import JobStatusChangedStatus
from .job_status_dto import JobStatusDto
from .job_submitted import JobSubmitted
from .job_submitted_payload import JobSubmittedPayload
from .job_submitted_payload_backend import JobSubmittedPayloadBackend
from .job_submitted_payload_parameters import JobSubmittedPayloadParameters
from .job_submitted_status import JobSubmittedStatus
from .outbox_dto import OutboxDto
from .parked_event_dto import ParkedEventDto
from .parked_list_dto import ParkedListDto
from .percentiles_dto import PercentilesDto
from .problem import Problem
from .process_dto import ProcessDto
from .redeliver_request import RedeliverRequest
from .redelivered_dto import RedeliveredDto
from .relay_lease_dto import RelayLeaseDto
from .replay_progress_dto import ReplayProgressDto
from .replay_request_dto import ReplayRequestDto
from .resources_dto import ResourcesDto
from .retry_parked_dto import RetryParkedDto
from .retry_parked_request import RetryParkedRequest
from .retry_request_dto import RetryRequestDto
from .status_counts_dto import StatusCountsDto
from .submit_job_request import SubmitJobRequest
from .submit_job_request_parameters import SubmitJobRequestParameters
from .subscription_dto import SubscriptionDto
from .subscription_list_dto import SubscriptionListDto
from .sweep_completed import SweepCompleted
from .sweep_completed_payload import SweepCompletedPayload
from .sweep_completed_payload_counts import SweepCompletedPayloadCounts
from .sweep_dto import SweepDto
from .sweep_dto_counts import SweepDtoCounts
from .sweep_request import SweepRequest
from .sweep_request_grid_type_0 import SweepRequestGridType0
from .sweep_request_parameters import SweepRequestParameters
from .sweep_request_points_type_0_item import SweepRequestPointsType0Item
from .sweep_submitted import SweepSubmitted
from .sweep_submitted_payload import SweepSubmittedPayload
from .token_dto import TokenDto
from .token_list_dto import TokenListDto

__all__ = (
    "AgentDto",
    "AgentDtoParameters",
    "AgentListDto",
    "AgentStatsDto",
    "AgentStatsListDto",
    "AuditListDto",
    "AuditRecorded",
    "AuditRecordedAuthMethodType1",
    "AuditRecordedOutcome",
    "BackendDto",
    "CancelJobRequest",
    "CloneJobRequest",
    "CloneJobRequestParametersType0",
    "ClusterDto",
    "ClusterDtoRelay",
    "CreateSubscriptionRequest",
    "CreateSubscriptionRequestEmailType0",
    "CreateTokenRequest",
    "CreatedTokenDto",
    "DeliveryDto",
    "DeliveryListDto",
    "DependencyConditionDto",
    "DependencyDto",
    "EventListDto",
    "EventStreamDto",
    "HoldJobRequest",
    "HostGoneDto",
    "JobCancelled",
    "JobCancelledPayload",
    "JobCancelledPreviousStatus",
    "JobCancelledStatus",
    "JobCompleted",
    "JobCompletedPayload",
    "JobCompletedPreviousStatus",
    "JobCompletedStatus",
    "JobDto",
    "JobDtoParameters",
    "JobErrorDto",
    "JobFailed",
    "JobFailedPayload",
    "JobFailedPreviousStatus",
    "JobFailedStatus",
    "JobListDto",
    "JobMetricsRecorded",
    "JobMetricsRecordedPayload",
    "JobMetricsRecordedStatus",
    "JobQueued",
    "JobQueuedPayload",
    "JobQueuedPayloadBackend",
    "JobQueuedPreviousStatus",
    "JobQueuedStatus",
    "JobRetryScheduled",
    "JobRetryScheduledPayload",
    "JobRetryScheduledPayloadResources",
    "JobRetryScheduledPreviousStatus",
    "JobRunning",
    "JobRunningPayload",
    "JobRunningPreviousStatus",
    "JobRunningStatus",
    "JobStatusChanged",
    "JobStatusChangedPayload",
    "JobStatusChangedPayloadCurrentStatus",
    "JobStatusChangedPayloadPreviousStatus",
    "JobStatusChangedPreviousStatus",
    "JobStatusChangedStatus",
    "JobStatusDto",
    "JobSubmitted",
    "JobSubmittedPayload",
    "JobSubmittedPayloadBackend",
    "JobSubmittedPayloadParameters",
    "JobSubmittedStatus",
    "OutboxDto",
    "ParkedEventDto",
    "ParkedListDto",
    "PercentilesDto",
    "Problem",
    "ProcessDto",
    "RedeliverRequest",
    "RedeliveredDto",
    "RelayLeaseDto",
    "ReplayProgressDto",
    "ReplayRequestDto",
    "ResourcesDto",
    "RetryParkedDto",
    "RetryParkedRequest",
    "RetryRequestDto",
    "StatusCountsDto",
    "SubmitJobRequest",
    "SubmitJobRequestParameters",
    "SubscriptionDto",
    "SubscriptionListDto",
    "SweepCompleted",
    "SweepCompletedPayload",
    "SweepCompletedPayloadCounts",
    "SweepDto",
    "SweepDtoCounts",
    "SweepRequest",
    "SweepRequestGridType0",
    "SweepRequestParameters",
    "SweepRequestPointsType0Item",
    "SweepSubmitted",
    "SweepSubmittedPayload",
    "TokenDto",
    "TokenListDto",
)
