"""The batch runtime's contracts: the controller's config file and the node <-> controller messages.

How a job runs (local target; Kubernetes runs the same processes as pods):

* One **controller** per batch endpoint (`python -m serving.batch.controller`): the public REST API
  (invoke, get/list/cancel jobs; Azure's invoke body), the durable job store (SQLite on a host
  folder), the scheduler (inputs -> mini-batches -> leases), the merge of outputs and the job logs.
  It reads `ControllerConfig` from a JSON file that `pulumi up` writes and re-reads it when it
  changes (a new default deployment applies in place, without a restart).
* **Nodes** (`python -m serving.batch.node`): containers of a deployment's image, sized by the
  compute cluster, started on demand by the endpoint's agent (the only holder of the engine
  socket) when the controller asks for them, and stopped after the cluster's idle time. A node
  runs `max_concurrency_per_instance` worker processes; each imports the user's driver, calls
  `init()` once, then `run(mini_batch)` for the mini-batches the node leases for it. A worker
  serves one job: for another job a new worker process starts (drivers read job-specific
  environment such as AZUREML_BI_OUTPUT_PATH in `init()`).
* Bundles: a worker leases several consecutive mini-batches of one job at once when they are short
  (`LeaseRequest.max_minibatches`; the controller sizes the bundle from the job's measured pace, see
  `minibatches.bundle_size`), runs them one after another and reports them in one `Report`: the
  lease and completion round trips, the SQLite transactions and the disk flush are paid per bundle,
  not per mini-batch. Every mini-batch of a bundle is still its own attempt with its own token,
  timeout and byte range of output.
* Exactly once: a worker appends a bundle's rows to one part file (named after the bundle's first
  lease's `Lease.part_path`, unique per attempt; creating and deleting a file per mini-batch cost more
  than a short run() on this kind of disk), each mini-batch's rows at its own byte range
  (`Completion.part`), flushes the file to disk (syncfs), then reports the `Completion`s. The
  controller accepts the completion of the current attempt only (one SQLite transaction) and merges
  the accepted ranges, in mini-batch order, into the output file once every mini-batch is settled. A killed
  worker, node or controller never loses or doubles rows: an attempt that is not accepted is never
  merged, and an accepted one is merged exactly once (the merge writes a temporary file and renames
  it).
* Long polling: an idle worker's `LeaseRequest.wait_s` lets the controller hold the request until
  work may be there (a job submitted, a failed try pending again, a lease expired; re-checked every
  second for the rest), so a new job reaches every idle worker at once. A worker bound to a job never
  waits: no work for it means its job is done with it.
* Leases expire when their node stops heartbeating (node gone, preempted): the mini-batch goes
  back to pending without counting as a failed try. A worker that dies or times out while its node
  lives is reported by the node (`Completion` with `outcome="failed"`) and does count.

Every path in these messages is a path inside the containers; datastores are mounted at the same
place (DATASTORES_ROOT/<name>) in the controller and in every node.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DATASTORES_ROOT = "/mnt/azureml/datastores"
# The default datastore: job outputs and logs go to azureml/<job>/ on it, local uploads to LocalUpload/.
DEFAULT_DATASTORE = "workspaceblobstore"
PUBLIC_PORT = 8080  # invoke and jobs API (published on 127.0.0.1, with auth)
INTERNAL_PORT = 8081  # node API (endpoint's private network only, with the node secret)
NODE_SECRET_HEADER = "X-Mle-Node-Secret"
HEARTBEAT_INTERVAL_S = 2.0
# A lease whose node has not heartbeated for this long is taken back (node gone).
LEASE_EXPIRY_S = 3 * HEARTBEAT_INTERVAL_S
# Most mini-batches in one bundle (one lease answer, one report).
MAX_BUNDLE = 256
# Longest an idle worker's lease request may wait in the controller for work (long polling).
MAX_LEASE_WAIT_S = 30.0

JobStatus = Literal["NotStarted", "Queued", "Running", "Finalizing", "Completed", "Failed", "Canceled"]
OutputAction = Literal["append_row", "summary_only"]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- controller config (pulumi -> controller)


class RetrySettings(_Message):
    max_retries: int = Field(default=3, ge=0, description="Retries of a failed or timed-out mini-batch.")
    timeout: int = Field(default=30, ge=1, description="Seconds one run() call may take.")


class JobSettings(_Message):
    """A deployment's job settings (Azure's names and defaults); a job may override some of them."""

    mini_batch_size: int = Field(default=10, ge=1, description="Files per run() call.")
    max_concurrency_per_instance: int = Field(default=1, ge=1, description="Worker processes per node.")
    instance_count: int = Field(default=1, ge=1, description="Nodes a job uses.")
    output_action: OutputAction = Field(default="append_row", description="append_row or summary_only.")
    output_file_name: str = Field(default="predictions.csv", description="append_row's output file.")
    retry_settings: RetrySettings = Field(default_factory=RetrySettings, description="Retries.")
    error_threshold: int = Field(default=-1, ge=-1, description="Failed files tolerated; -1: all.")
    logging_level: Literal["warning", "info", "debug"] = Field(default="info", description="Log level.")


class ClusterLimits(_Message):
    """What the deployment's compute cluster allows (nodes are containers of the deployment's image)."""

    name: str = Field(description="Compute cluster name.")
    min_instances: int = Field(default=0, ge=0, description="Nodes kept when idle.")
    max_instances: int = Field(default=1, ge=1, description="Most nodes at once.")
    idle_time_before_scale_down: int = Field(
        default=120, ge=0, description="Idle seconds before a node stops."
    )
    low_priority: bool = Field(default=False, description="Nodes may be preempted (taken away) mid-job.")


class PipelineInput(_Message):
    """An input of a pipeline deployment's component: what an invocation passes (or its default)."""

    type: str = Field(
        description="Azure's input type: uri_folder, uri_file, string, integer, number, boolean."
    )
    optional: bool = Field(default=False, description="May be left out of the invocation.")
    default: str | None = Field(default=None, description="Used when the invocation gives none (as text).")


class StepInput(_Message):
    """Where a step input's value comes from."""

    kind: Literal["parent", "step", "value"] = Field(
        description="parent: the pipeline input `name`; step: output `output` of step `step`; value: `value`."
    )
    name: str | None = None
    step: str | None = None
    output: str | None = None
    value: str | None = Field(
        default=None, description="A literal as text, or a path in the step's container."
    )


class StepConfig(_Message):
    """One command step of a pipeline deployment."""

    component: str = Field(description="The command component's name (for messages).")
    command: str = Field(description="Its command, ${{inputs.x}}, ${{outputs.y}} and $[[...]] still in it.")
    inputs: dict[str, StepInput] = Field(default_factory=dict, description="Bound inputs.")
    # No None values in here: Pulumi drops them from the config it writes.
    declared: list[str] = Field(default_factory=list, description="Every input the component declares.")
    defaults: dict[str, str] = Field(default_factory=dict, description="Declared inputs' defaults.")
    outputs: list[str] = Field(default_factory=list, description="Every output the component declares.")
    bound_outputs: dict[str, str] = Field(
        default_factory=dict, description="Output -> the pipeline output it is (the rest: own folders)."
    )
    after: list[str] = Field(default_factory=list, description="Steps whose outputs it reads.")


class PipelineConfig(_Message):
    """A pipeline component deployment: its inputs, outputs and steps (run as the agent's step containers)."""

    inputs: dict[str, PipelineInput] = Field(default_factory=dict)
    outputs: list[str] = Field(default_factory=list)
    steps: dict[str, StepConfig] = Field(description="In an order that runs (each after what it reads).")
    continue_on_step_failure: bool = Field(
        default=False, description="Run the steps that do not need a failed one before the job fails."
    )


class DeploymentConfig(_Message):
    name: str
    template: str = Field(
        default="",
        description="Digest of the template its nodes are made from; when it changes, the controller "
        "learns which nodes are of an older template before it reports the config applied.",
    )
    settings: JobSettings
    cluster: ClusterLimits
    pipeline: PipelineConfig | None = Field(
        default=None, description="Set for a pipeline component deployment (type: pipeline)."
    )


class ControllerConfig(_Message):
    """The controller's config file (JSON), written by `pulumi up`."""

    endpoint: str = Field(description="Batch endpoint name.")
    default_deployment: str | None = Field(default=None, description="Serves jobs that name no deployment.")
    deployments: dict[str, DeploymentConfig] = Field(default_factory=dict, description="By name.")
    # Datastore name -> folder inside the containers (DATASTORES_ROOT/<name>).
    datastores: dict[str, str] = Field(default_factory=dict, description="Datastores jobs may read/write.")


# ---------------------------------------------------------------- node <-> controller (internal API)


class LeaseRequest(_Message):
    """POST /internal/lease: a node asks work for one idle worker process (answer: `Leases`, or 204)."""

    node: str = Field(description="Node (container) name.")
    deployment: str = Field(description="The deployment whose image the node runs.")
    process: int = Field(ge=0, description="Worker process index on the node.")
    job: str | None = Field(default=None, description="Only this job (the worker is bound to it).")
    max_minibatches: int = Field(
        default=1, ge=1, le=MAX_BUNDLE, description="Most mini-batches the worker takes in one bundle."
    )
    wait_s: float = Field(
        default=0.0,
        ge=0,
        le=MAX_LEASE_WAIT_S,
        description="How long the controller may hold the request while it has no work for it (long "
        "polling: an idle worker gets a new job's first bundle at once instead of at its next poll).",
    )


class Lease(_Message):
    """One attempt of one mini-batch."""

    token: str = Field(description="Identifies this attempt; stale tokens are refused at completion.")
    job: str
    minibatch: int = Field(ge=0, description="Mini-batch index within the job.")
    attempt: int = Field(ge=0, description="0 for the first try.")
    files: list[str] = Field(description="Input files (container paths), the run() argument.")
    timeout_s: float = Field(gt=0, description="retry_settings.timeout: the node kills run() after it.")
    output_action: OutputAction
    part_path: str = Field(
        description="Unique per attempt: the part file of the bundle this lease opens (append_row); "
        "the rows of a bundle's later leases go to its first lease's file."
    )
    output_path: str = Field(description="The job's output folder: AZUREML_BI_OUTPUT_PATH.")
    user_log_dir: str = Field(description="Job folder for logs/user/stdout|error/<node>/processNNN.*.")
    logging_level: str = "info"


class Leases(_Message):
    """200 answer to LeaseRequest: a bundle of consecutive mini-batches of one job, run in this order."""

    leases: list[Lease] = Field(min_length=1, max_length=MAX_BUNDLE)


class Heartbeat(_Message):
    """POST /internal/heartbeat every HEARTBEAT_INTERVAL_S with the tokens the node is working on."""

    node: str
    tokens: list[str] = Field(default_factory=list)


class HeartbeatAnswer(_Message):
    # Tokens whose work should stop now (job canceled or failed, lease taken back).
    abandon: list[str] = Field(default_factory=list)


class PartRange(_Message):
    """A byte range of a part file: one attempt's rows in the file its bundle's worker appended to."""

    path: str = Field(description="The Lease.part_path of the bundle's first lease.")
    offset: int = Field(ge=0)
    length: int = Field(ge=0)


FailureKind = Literal["exception", "timeout", "too_few_rows", "init_failed", "worker_died", "no_run"]


class Completion(_Message):
    """The outcome of one attempt. Idempotent for the same token."""

    token: str
    node: str
    process: int = Field(ge=0)
    outcome: Literal["succeeded", "failed"]
    rows: int = Field(default=0, ge=0, description="Rows run() returned (append_row: written to `part`).")
    elapsed_s: float = Field(default=0.0, ge=0)
    started_at: float | None = Field(
        default=None,
        description="When run() started (epoch seconds, the node's clock): a bundle's mini-batches share "
        "one lease time, so the job report takes each one's start from here.",
    )
    failure: FailureKind | None = None
    error: str | None = Field(default=None, description="One paragraph: what failed, on which files.")
    part: PartRange | None = Field(
        default=None,
        description="Where a succeeded append_row attempt's rows are; None: the whole Lease.part_path.",
    )


class Report(_Message):
    """POST /internal/complete: the outcomes of a bundle's attempts, settled in one transaction."""

    completions: list[Completion] = Field(min_length=1, max_length=MAX_BUNDLE)
    next_lease: LeaseRequest | None = Field(
        default=None,
        description="The same worker's next bundle, asked in this round trip (answered in "
        "ReportAnswer.leases): one request per bundle instead of two.",
    )


class ReportAnswer(_Message):
    # Per completion, in order. False: that attempt is not the current one any more (its rows are
    # never merged; the node deletes a part file none of whose ranges was accepted).
    accepted: list[bool]
    leases: list[Lease] = Field(default_factory=list, description="The answer to Report.next_lease.")
