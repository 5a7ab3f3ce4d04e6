"""`mle batch invoke|show|list|logs|cancel|download|preempt`, as `az ml batch-endpoint`/`az ml job`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from components import endpoint_cli
from components.batch_datastore_paths import DATASTORE_URI, datastore_folders, host_path
from components.batch_describe import describe_job, jobs_table, outcome_lines, output_folder_uri
from components.batch_inputs import _KINDS, resolve_input, resolve_output
from components.batch_job_files import copy_files, download_plan, job_logs_folder, log_files, tail_text
from components.batch_jobs_api import TERMINAL, ControllerDown, JobsApi, pick_batch_endpoint
from components.batch_overrides import OVERRIDES, build_body, parse_overrides
from components.batch_pipeline_inputs import input_data, inputs_file, named, named_input
from components.batch_progress import wait_for_job
from components.endpoint_cli import CliError
from components.targets.local import preempt as local_preempt
from components.targets.local import status as local_status
from serving.batch.controller.invoke import JOB_NAME

# ---------------------------------------------------------------- commands


def _endpoint_for(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    name, ep, _ = _endpoint_and_outputs(args)
    return name, ep


def _endpoint_and_outputs(args: argparse.Namespace) -> tuple[str, dict[str, Any], dict[str, Any]]:
    job = getattr(args, "job", None)
    if job is not None and not JOB_NAME.match(job):  # it becomes a URL and a folder name
        raise CliError(f"{job!r} is not a job name (letters, digits, '-' and '_')")
    outputs = endpoint_cli.stack_outputs(args.stack, secrets=True)
    name, ep = pick_batch_endpoint(outputs, args.endpoint)
    return name, ep, outputs


def _interrupted(name: str) -> int:
    print(
        f"\nstopped waiting; job {name} keeps running. Follow it: scripts/mle batch show {name} --wait; "
        f"cancel it: scripts/mle batch cancel {name}",
        file=sys.stderr,
    )
    return 130


def _follow(api: JobsApi, name: str, folders: Mapping[str, Path]) -> int:
    try:
        job = wait_for_job(api, name, sys.stderr)
    except KeyboardInterrupt:
        return _interrupted(name)
    for line in outcome_lines(job, folders):
        print(line)
    return 0 if (job.get("properties") or {}).get("status") == "Completed" else 1


def _invoke_pipeline(args: argparse.Namespace, unnamed: list[str]) -> dict[str, Any]:
    """Azure's body for a pipeline deployment: its inputs by name (--input NAME=..., --literal, --file)."""
    if unnamed:
        raise CliError(
            f"--input {unnamed[0]}: with named inputs, name this one too (--input NAME=PATH), as a pipeline "
            "takes its inputs by name"
        )
    data: dict[str, tuple[str, str | None]] = {}
    literals: dict[str, str] = {}
    if args.file:
        data, literals = inputs_file(Path(args.file))
    data |= {
        k: (v, args.input_type)
        for k, v in named([i for i in args.input or [] if "=" in i], "--input").items()
    }
    literals |= named(args.literal or [], "--literal")
    if args.set or args.mini_batch_size or args.instance_count or args.output_path or args.output_file_name:
        raise CliError(
            "--set, --mini-batch-size, --instance-count and --output-* apply to model deployments only"
        )
    _, ep, outputs = _endpoint_and_outputs(args)
    registered = outputs.get("assets.data")
    body, notes = input_data(
        data, literals, datastore_folders(ep), registered if isinstance(registered, dict) else {}
    )
    for note in notes:
        print(note, file=sys.stderr)
    return {"properties": {"InputData": body}}


def invoke(args: argparse.Namespace) -> int:
    name, ep, outputs = _endpoint_and_outputs(args)
    folders = datastore_folders(ep)
    given = args.input or []
    unnamed = [value for value in given if not named_input(value)]
    if args.file or args.literal or len(unnamed) < len(given):
        job = JobsApi(name, ep).invoke(_invoke_pipeline(args, unnamed), args.deployment)
        job_name = str(job.get("name"))
        print(job_name, flush=True)
        return _follow(JobsApi(name, ep), job_name, folders) if args.wait else 0
    if len(unnamed) != 1:
        raise CliError("give one --input (a model deployment's data), or the named inputs of a pipeline")
    flags = {
        "mini_batch_size": args.mini_batch_size,
        "instance_count": args.instance_count,
        "output_file_name": args.output_file_name,
    }
    overrides = parse_overrides(args.set or [], flags)
    output = resolve_output(args.output_path, folders) if args.output_path else None
    registered = outputs.get("assets.data")
    data = resolve_input(
        unnamed[0], args.input_type, folders, data_assets=registered if isinstance(registered, dict) else {}
    )
    if data.source is not None:
        done = "uploaded" if data.copied else "already uploaded"
        files = f"{data.files} file{'s' * (data.files != 1)}"
        print(f"input {data.source} ({files}, {done}): {data.uri}", file=sys.stderr)
    job = JobsApi(name, ep).invoke(build_body(data, overrides, output), args.deployment)
    job_name = str(job.get("name"))
    print(job_name, flush=True)
    if not args.wait:
        return 0
    return _follow(JobsApi(name, ep), job_name, folders)


def show_job(args: argparse.Namespace) -> int:
    name, ep = _endpoint_for(args)
    api = JobsApi(name, ep)
    if args.wait:
        return _follow(api, args.job, datastore_folders(ep))
    job = api.job(args.job)
    if args.json:
        print(json.dumps(job, indent=2))
        return 0
    for line in describe_job(job, datastore_folders(ep)):
        print(line)
    return 0


def list_jobs(args: argparse.Namespace) -> int:
    name, ep = _endpoint_for(args)
    jobs = JobsApi(name, ep).jobs(args.deployment)
    if not jobs:
        print(f"no jobs on endpoint {name}" + (f" for deployment {args.deployment}" * bool(args.deployment)))
        return 0
    for line in jobs_table(jobs):
        print(line)
    return 0


def logs(args: argparse.Namespace) -> int:
    name, ep = _endpoint_for(args)
    folders = datastore_folders(ep)
    try:
        job: dict[str, Any] | None = JobsApi(name, ep).job(args.job)
    except ControllerDown as exc:  # the logs are files on this machine: read them anyway
        print(f"mle: {exc}; reading the job folder directly", file=sys.stderr)
        job = None
    folder = job_logs_folder(args.job, job, folders)
    if not folder.is_dir():
        raise CliError(f"job {args.job} has no logs yet ({folder} does not exist)")
    files = log_files(folder, args.node, args.step)
    print(f"job folder: {folder.parent}", flush=True)
    if not files:
        print("no log files yet")
    for path in files:
        print(f"\n==> {path.relative_to(folder.parent)} <==")
        text = tail_text(path.read_text(encoding="utf-8", errors="replace"), args.tail)
        sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    report = folder / "sys" / "job_report" / "processed_mini-batches.csv"
    if report.is_file():
        print(f"\nmini-batch report (every try of every mini-batch): {report}")
    return 0


def cancel(args: argparse.Namespace) -> int:
    name, ep = _endpoint_for(args)
    job = JobsApi(name, ep).cancel(args.job)
    print(f"job {job.get('name', args.job)}: {(job.get('properties') or {}).get('status')}")
    return 0


def download(args: argparse.Namespace) -> int:
    name, ep = _endpoint_for(args)
    folders = datastore_folders(ep)
    job = JobsApi(name, ep).job(args.job)
    props = job.get("properties") or {}
    folder_uri = output_folder_uri(props)
    if folder_uri is None:
        raise CliError(f"job {args.job} names no output")
    source = host_path(folder_uri, folders)
    destination = Path(args.output)
    if destination.exists() and not destination.is_dir():
        raise CliError(f"--output {destination} is a file, not a folder")
    plan = download_plan(source, destination) if source.is_dir() else []
    if not plan:
        raise CliError(f"job {args.job} has no output files in {source} (status {props.get('status')})")
    if props.get("status") not in TERMINAL:
        print(f"mle: job {args.job} is {props.get('status')}: its outputs are not final", file=sys.stderr)
    size = copy_files(plan, args.overwrite)
    print(f"copied {len(plan)} file(s), {size} bytes, from {source} to {destination}")
    if props.get("outputFileName") and (destination / str(props["outputFileName"])).is_file():
        print(f"output file: {destination / str(props['outputFileName'])}")
    return 0


def preempt(args: argparse.Namespace) -> int:
    """Take running nodes of a low-priority cluster away (SIGKILL), as Azure's preemption does."""
    import docker
    import docker.errors

    name, ep = _endpoint_for(args)
    deployments = sorted(ep.get("deployments") or {})
    if args.deployment is not None and args.deployment not in deployments:
        raise CliError(
            f"endpoint {name} has no deployment {args.deployment!r} (deployments: {', '.join(deployments)})"
        )
    try:
        client = docker.from_env()
        taken = local_preempt.preempt(client, name, args.deployment, args.nodes)
    except local_preempt.PreemptError as exc:
        raise CliError(str(exc)) from None
    except docker.errors.DockerException as exc:
        raise CliError(f"no Docker engine answers ({exc}); start it with scripts/bootstrap") from None
    for node in taken:
        print(f"preempted {node.name} (deployment {node.deployment})")
    if not taken:
        print("no node was running any more: nothing preempted")
    else:
        print(
            "their running mini-batches go back to the queue and the controller starts new nodes; "
            f"follow the job with: scripts/mle batch list {name}"
        )
    return 0


# ---------------------------------------------------------------- `mle show` of a batch endpoint


def show_endpoint(
    name: str, ep: Mapping[str, Any], stack: str, live: list[local_status.ContainerState] | None
) -> None:
    """Invoke URI, default deployment, deployments with their nodes now, controller and agent."""
    print(f"endpoint:           {name} (batch)")
    print(f"provisioning_state: {ep.get('provisioning_state')}")
    print(f"invoke_uri:         {ep.get('invoke_uri')}")
    print(f"auth_mode:          {ep.get('auth_mode')}")
    print(f"default deployment: {ep.get('default_deployment') or '(none)'}")
    for store, folder in sorted((ep.get("datastores") or {}).items()):
        print(f"datastore {store}: {folder}")
    for deployment, state in sorted((ep.get("deployments") or {}).items()):
        print(f"deployment {deployment}: {state} (last pulumi up); cluster nodes now:")
        if live is None:
            print("  (no Docker engine answers: what runs is unknown)")
            continue
        nodes = [s for s in live if s.role == "node" and s.deployment == deployment]
        if not nodes:
            print("  none (nodes start when a job needs them)")
        for node in sorted(nodes, key=lambda s: s.name):
            print(f"  {node.name}: {node.summary}, started {node.started_at[:19]}")
    for role in ("controller", "agent"):
        print(f"{role}:")
        states = None if live is None else [s for s in live if s.role == role]
        endpoint_cli.print_containers(states, f"no {role} container")
    print("\ninvoke:")
    print(f"  scripts/mle batch invoke {name} --input <folder or file> --wait")
    print(
        f"  TOKEN=$(scripts/mle --stack {stack} token {name} | "
        "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"accessToken\"])')"
    )
    print(
        f'  curl -s {ep.get("invoke_uri")} -H "Authorization: Bearer $TOKEN" '
        '-H \'Content-Type: application/json\' -d \'{"properties": {"InputData": {"input_data": '
        '{"JobInputType": "UriFolder", "Uri": "azureml://datastores/workspaceblobstore/paths/<folder>"}}}}\''
    )


def add_parser(sub: Any) -> None:
    """Register `batch` and its subcommands on `mle`'s subparsers."""
    b = sub.add_parser(
        "batch", help="batch endpoints: invoke jobs, follow, list, logs, cancel, download, preempt"
    )
    cmds = b.add_subparsers(dest="batch_command", required=True)
    i = cmds.add_parser("invoke", help="start a job on a batch endpoint; prints the job name")
    i.add_argument("endpoint", nargs="?", help="batch endpoint (default: the stack's only one)")
    i.add_argument(
        "--input",
        action="append",
        help=f"local file or folder, data asset YAML, a registered data asset (azureml:<name>@latest), "
        f"or {DATASTORE_URI}; NAME=... for a pipeline's named input (repeat for each)",
    )
    i.add_argument("--literal", action="append", metavar="NAME=VALUE", help="a pipeline's literal input")
    i.add_argument("--file", help="a pipeline's inputs.yml (as `az ml batch-endpoint invoke --file` reads)")
    i.add_argument("--input-type", choices=sorted(_KINDS), help="default: what --input is")
    i.add_argument("--deployment", help="run on this deployment (default: the endpoint's default)")
    i.add_argument("--set", action="append", metavar="KEY=VALUE", help=f"override: {', '.join(OVERRIDES)}")
    i.add_argument("--mini-batch-size", type=int)
    i.add_argument("--instance-count", type=int)
    i.add_argument("--output-path", help=f"output folder: {DATASTORE_URI} (default: the job's folder)")
    i.add_argument("--output-file-name")
    i.add_argument("--wait", action="store_true", help="draw the job's progress until it ends")
    i.set_defaults(func=invoke)
    s = cmds.add_parser("show", help="a job's status, progress, inputs, outputs and error")
    s.add_argument("job")
    s.add_argument("--endpoint")
    s.add_argument("--wait", action="store_true", help="follow the job's progress until it ends")
    s.add_argument("--json", action="store_true", help="the job resource as the controller answers it")
    s.set_defaults(func=show_job)
    ls = cmds.add_parser("list", help="the jobs of a batch endpoint, newest first")
    ls.add_argument("endpoint", nargs="?")
    ls.add_argument("--deployment")
    ls.set_defaults(func=list_jobs)
    g = cmds.add_parser("logs", help="a job's result, progress and user logs (from the job folder)")
    g.add_argument("job")
    g.add_argument("--endpoint")
    g.add_argument("--node", help="only this node's user logs (its name or a unique part of it)")
    g.add_argument("--step", help="only this step's log (a pipeline job)")
    g.add_argument("--tail", type=int, help="last N lines of each file")
    g.set_defaults(func=logs)
    c = cmds.add_parser("cancel", help="cancel a queued or running job")
    c.add_argument("job")
    c.add_argument("--endpoint")
    c.set_defaults(func=cancel)
    d = cmds.add_parser("download", help="copy a job's score output folder into a folder")
    d.add_argument("job")
    d.add_argument("--endpoint")
    d.add_argument("--output", required=True, help="destination folder (created when missing)")
    d.add_argument("--overwrite", action="store_true", help="replace files that exist there")
    d.set_defaults(func=download)
    p = cmds.add_parser(
        "preempt",
        help="simulate preemption: kill running nodes of a tier: low_priority cluster mid-job (local target)",
    )
    p.add_argument("endpoint", nargs="?", help="batch endpoint (default: the stack's only one)")
    p.add_argument("--deployment", help="only this deployment's nodes")
    p.add_argument("--nodes", type=int, help="how many nodes to take (default: every running one)")
    p.set_defaults(func=preempt)
