"""`mle show|invoke|token|logs|prune-images|batch`: endpoints at run time, as Azure ML users work them.

Stack outputs are the source of truth for what an endpoint is.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from components import image_build, invoke_bodies
from components.preview_cli import PreviewRunError
from components.targets.kubernetes import status as k8s_status
from components.targets.local import image_prune
from components.targets.local import status as local_status
from serving.router.tokens import issue_token


class CliError(Exception):
    """A problem the user can act on; printed as one message, exit code 1."""


def stack_outputs(stack: str, secrets: bool = False) -> dict[str, Any]:
    """`pulumi stack output --json` of a stack of this project."""
    cmd = ["pulumi", "stack", "output", "--json", "--stack", stack]
    if secrets:
        cmd.append("--show-secrets")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise CliError("pulumi is not on PATH: `source scripts/env` first (make up sets it up)") from None
    if proc.returncode != 0:
        raise CliError(f"cannot read outputs of stack {stack!r}: {proc.stderr.strip()}")
    parsed: dict[str, Any] = json.loads(proc.stdout or "{}")
    return parsed


def endpoints_of(outputs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Group `<endpoint>.<field>` outputs by endpoint."""
    grouped: dict[str, dict[str, Any]] = {}
    for key, value in outputs.items():
        endpoint, _, field = key.partition(".")
        if field:
            grouped.setdefault(endpoint, {})[field] = value
    return grouped


def is_batch(ep: dict[str, Any]) -> bool:
    return ep.get("kind") == "batch"


def pick_endpoint(
    outputs: dict[str, Any], name: str | None, online_only: bool = False
) -> tuple[str, dict[str, Any]]:
    """The named endpoint, or the only one (the only online one with `online_only`)."""
    endpoints = endpoints_of(outputs)
    if not endpoints:
        raise CliError("the stack has no endpoints (run `make up` first)")
    if name is None:
        candidates = {n: ep for n, ep in endpoints.items() if not (online_only and is_batch(ep))}
        if len(candidates) != 1:
            kind = "online endpoints" if online_only else "endpoints"
            if not candidates:
                raise CliError(f"the stack has no {kind}; endpoints: {', '.join(sorted(endpoints))}")
            raise CliError(f"the stack has several {kind}, name one: {', '.join(sorted(candidates))}")
        name = next(iter(candidates))
    if name not in endpoints:
        raise CliError(f"no endpoint {name!r} in the stack; endpoints: {', '.join(sorted(endpoints))}")
    return name, endpoints[name]


def curl_command(uri: str, request_file: str, deployment: str | None = None) -> str:
    """A ready-to-paste curl that reads the key from the stack (never prints it)."""
    header = f" -H 'azureml-model-deployment: {deployment}'" if deployment else ""
    return (
        f'curl -s {shlex.quote(uri)} -H "Authorization: Bearer $KEY" '
        f"-H 'Content-Type: application/json'{header} -d @{shlex.quote(request_file)}"
    )


# The example endpoints of stacks/Pulumi.local.yaml and stacks/Pulumi.k8s.yaml serve the same models.
EXAMPLE_ENDPOINTS = ("mle-demo", "mle-k8s")
EXAMPLE_REQUEST = "examples/online/model-blue/sample-request.json"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def request_file_for(endpoint: str, root: Path = PROJECT_ROOT, deployment: str | None = None) -> str:
    """The example's own sample request for the example endpoint (the deployment's own when it has
    one: examples/online/model-<deployment>/); a placeholder for any other endpoint."""
    if endpoint not in EXAMPLE_ENDPOINTS:
        return "request.json"
    own = f"examples/online/model-{deployment}/sample-request.json" if deployment else None
    for candidate in (own, EXAMPLE_REQUEST):
        if candidate and (root / candidate).is_file():
            return candidate
    return "request.json"


def show(args: argparse.Namespace) -> int:
    outputs = stack_outputs(args.stack)
    if args.endpoint is None:
        chosen = sorted(endpoints_of(outputs).items(), key=lambda item: (is_batch(item[1]), item[0]))
        if not chosen:
            raise CliError("the stack has no endpoints (run `make up` first)")
    else:
        chosen = [pick_endpoint(outputs, args.endpoint)]
    for index, (name, ep) in enumerate(chosen):
        if index:
            print()
        if is_batch(ep):
            from components import batch_cli

            batch_cli.show_endpoint(name, ep, args.stack, _live_containers(name))
        else:
            show_online(name, ep, args.stack)
    return 0


def show_online(name: str, ep: dict[str, Any], stack: str) -> None:
    print(f"endpoint:           {name}")
    print(f"provisioning_state: {ep.get('provisioning_state')}")
    print(f"scoring_uri:        {ep.get('scoring_uri')}")
    print(f"swagger_uri:        {ep.get('swagger_uri')}")
    print(f"traffic:            {json.dumps(ep.get('traffic', {}))}")
    if ep.get("target") == "kubernetes":
        _show_pods(name, ep)
    else:
        _show_containers(name, ep)
    print("\ninvoke:")
    print(f"  KEY=$(pulumi stack output --stack {stack} {name}.primary_key --show-secrets)")
    uri = str(ep.get("scoring_uri"))
    print(f"  {curl_command(uri, request_file_for(name))}")
    deployments = sorted(ep.get("deployments") or {})
    if len(deployments) > 1:
        print("  # one deployment, whatever the traffic split says:")
        for deployment in deployments:
            print(f"  {curl_command(uri, request_file_for(name, deployment=deployment), deployment)}")


def _show_pods(name: str, ep: dict[str, Any]) -> None:
    pods = k8s_status.endpoint_pods(name)
    for deployment, state in sorted((ep.get("deployments") or {}).items()):
        print(f"deployment {deployment}: {state} (last pulumi up)")
        _print_pods(None if pods is None else [p for p in pods if p.deployment == deployment])
    print("router:")
    _print_pods(None if pods is None else [p for p in pods if p.deployment is None])


def _print_pods(pods: list[k8s_status.PodState] | None) -> None:
    if pods is None:
        print("  (the cluster does not answer: what runs is unknown; `kubectl get nodes`)")
        return
    if not pods:
        print("  no pod")
    for pod in pods:
        print(f"  {pod.name}: {pod.summary}, restarts {pod.restarts}, started {pod.started_at[:19]}")


def _show_containers(name: str, ep: dict[str, Any]) -> None:
    containers = _live_containers(name)
    live = None if containers is None else local_status.group(containers)
    for deployment, state in sorted((ep.get("deployments") or {}).items()):
        print(f"deployment {deployment}: {state} (last pulumi up)")
        print_containers(live.get(deployment, []) if live is not None else None, "no instance is running")
    for role in ("router", "agent"):
        print(f"{role}:")
        print_containers(live.get(role, []) if live is not None else None, f"no {role} container")


def _live_containers(endpoint: str) -> list[local_status.ContainerState] | None:
    """The endpoint's containers as the engine reports them now; None when no engine answers."""
    import docker
    import docker.errors

    try:
        client = docker.from_env()
        return local_status.endpoint_containers(client, endpoint)
    except docker.errors.DockerException:
        return None


def print_containers(states: list[local_status.ContainerState] | None, none_text: str) -> None:
    if states is None:
        print("  (no Docker engine answers: what runs is unknown)")
        return
    if not states:
        print(f"  {none_text}: `make up` creates it again")
    for state in states:
        print(f"  {state.name}: {state.summary}, restarts {state.restarts}, started {state.started_at[:19]}")


def credential(name: str, ep: dict[str, Any], ttl_s: float = 3600) -> str:
    """What goes after `Bearer`: the primary key, or a fresh token in the token auth modes."""
    if ep.get("auth_mode", "key") == "key":
        return str(ep["primary_key"])
    if "token_secret" not in ep:
        raise CliError(f"endpoint {name} uses {ep.get('auth_mode')} but the stack exports no token secret")
    return issue_token(str(ep["token_secret"]), ttl_s, audience=name)


def token(args: argparse.Namespace) -> int:
    outputs = stack_outputs(args.stack, secrets=True)
    endpoints = endpoints_of(outputs)
    token_ones = [n for n, ep in endpoints.items() if ep.get("auth_mode", "key") != "key"]
    # No name: the only endpoint that takes tokens, when the stack has several endpoints.
    chosen = token_ones[0] if args.endpoint is None and len(endpoints) > 1 and len(token_ones) == 1 else None
    name, ep = pick_endpoint(outputs, args.endpoint or chosen)
    if ep.get("auth_mode", "key") == "key":
        raise CliError(
            f"endpoint {name} uses key auth: read a key with `pulumi stack output {name}.primary_key`"
        )
    expiry = time.time() + args.ttl
    answer = {
        "accessToken": credential(name, ep, args.ttl),
        "expiryTimeUtc": int(expiry),
        "tokenType": "Bearer",
    }
    print(json.dumps(answer, indent=2))
    return 0


def invoke(args: argparse.Namespace) -> int:
    name, ep = pick_endpoint(stack_outputs(args.stack, secrets=True), args.endpoint, online_only=True)
    if is_batch(ep):
        raise CliError(
            f"{name} is a batch endpoint: start a job with `scripts/mle batch invoke {name} --input`"
        )
    try:
        body = _request_body(args)
    except OSError as exc:
        raise CliError(f"cannot read {exc.filename}: {exc.strerror}") from None
    headers = {"Authorization": f"Bearer {credential(name, ep)}", "Content-Type": body.content_type}
    if args.deployment:
        headers["azureml-model-deployment"] = args.deployment
    request = urllib.request.Request(str(ep["scoring_uri"]), data=body.data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as resp:
            _answer(resp.read(), resp.headers.get("Content-Type"), args.output)
            return 0
    except urllib.error.HTTPError as exc:
        _answer(exc.read(), exc.headers.get("Content-Type"), args.output)
        print(f"endpoint {name} answered {exc.code}", file=sys.stderr)
        return 1
    except OSError as exc:
        raise CliError(f"endpoint {name} at {ep['scoring_uri']} did not answer: {exc}") from None


def _request_body(args: argparse.Namespace) -> invoke_bodies.Body:
    if args.file is not None:
        return invoke_bodies.multipart_body(Path(args.file), args.field, args.content_type)
    if args.data_binary is not None:
        return invoke_bodies.binary_body(Path(args.data_binary), args.content_type)
    return invoke_bodies.json_body(Path(args.request_file), args.content_type)


def _answer(data: bytes, content_type: str | None, output: str | None) -> None:
    """Print a text answer; save the answer to `output` when given (bytes as they came)."""
    if output is not None:
        try:
            Path(output).write_bytes(data)
        except OSError as exc:
            raise CliError(f"cannot write {output}: {exc.strerror}") from None
        print(
            f"answer saved to {output} ({len(data)} bytes, {content_type or 'no content type'})",
            file=sys.stderr,
        )
        return
    if invoke_bodies.is_text(content_type):
        sys.stdout.write(data.decode("utf-8", "replace") + "\n")
        return
    print(
        f"the answer is {len(data)} bytes of {content_type}; save it with --output FILE",
        file=sys.stderr,
    )


def _kubernetes_logs(name: str, ep: dict[str, Any], args: argparse.Namespace) -> int:
    """`kubectl logs` of the router's pods, a deployment's, or one of them (`--instance`, by pod name
    order as `scripts/mle show` lists them)."""
    if args.agent:
        raise CliError(
            f"{name} runs on Kubernetes, which has no endpoint agent (Kubernetes restarts the pods "
            "itself): leave out --agent for the router's logs, or give --deployment D"
        )
    if args.deployment is not None:
        _check_deployment(name, ep, args.deployment)
    if args.instance is None:
        command = k8s_status.logs_command(name, args.deployment, args.tail)
    else:
        if args.deployment is None:
            raise CliError("--instance picks one pod of a deployment: give --deployment D too")
        pods = k8s_status.endpoint_pods(name)
        if pods is None:
            raise CliError(f"the cluster did not answer for {name}'s pods (kubectl get pods)")
        names = sorted(pod.name for pod in pods if pod.deployment == args.deployment)
        if not 0 <= args.instance < len(names):
            have = f"pods 0..{len(names) - 1}" if names else "no pods now"
            raise CliError(f"deployment {args.deployment} has {have}")
        command = k8s_status.pod_logs_command(name, names[args.instance], args.tail)
    return subprocess.run(command, check=False).returncode


def logs(args: argparse.Namespace) -> int:
    name, ep = pick_endpoint(stack_outputs(args.stack), args.endpoint, online_only=True)
    if ep.get("target") == "kubernetes":
        return _kubernetes_logs(name, ep, args)
    if args.instance is not None and is_batch(ep):
        raise CliError(
            f"{name} is a batch endpoint: it has nodes, not instances; `--deployment D` shows its "
            "nodes' logs, `scripts/mle batch logs JOB --node N` one node's part of a job"
        )
    if args.instance is not None and (args.agent or args.deployment is None):
        raise CliError("--instance picks one instance of a deployment: give --deployment D too")
    if args.agent:
        containers = [str(ep.get("agent_container") or f"{name}-agent")]
    elif is_batch(ep):
        containers = _batch_log_containers(name, ep, args.deployment)
    elif args.deployment is None:
        containers = [str(ep.get("router_container") or f"{name}-router")]
    else:
        _check_deployment(name, ep, args.deployment)
        containers = _instances(name, args.deployment)
        if args.instance is not None:
            if not 0 <= args.instance < len(containers):
                raise CliError(f"deployment {args.deployment} has instances 0..{len(containers) - 1}")
            containers = [containers[args.instance]]
    for container in containers:
        print(f"==> {container} <==", flush=True)
        subprocess.run(["docker", "logs", "--tail", str(args.tail), container], check=False)
    return 0


def _check_deployment(name: str, ep: dict[str, Any], deployment: str) -> None:
    if deployment not in (ep.get("deployments") or {}):
        known = ", ".join(sorted(ep.get("deployments") or {}))
        raise CliError(f"endpoint {name} has no deployment {deployment!r}; deployments: {known}")


def _batch_log_containers(name: str, ep: dict[str, Any], deployment: str | None) -> list[str]:
    """The controller's log; with a deployment, the logs of its nodes that exist now."""
    if deployment is None:
        return [str(ep.get("controller_container") or f"{name}-controller")]
    _check_deployment(name, ep, deployment)
    nodes = _containers(name, deployment, role="node")
    if not nodes:
        raise CliError(
            f"deployment {deployment} has no nodes now (they start when a job needs them and stop "
            f"after the cluster's idle time); a job's own logs: `scripts/mle batch logs <job>`"
        )
    return sorted(nodes)


def prune_images(args: argparse.Namespace) -> int:
    import docker
    import docker.errors

    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        raise CliError(f"no Docker engine answers (`make up` starts one): {exc}") from None
    removed, refused = image_prune.prune(client, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for tag in removed:
        print(f"{verb} {tag}")
    for reason in refused:
        print(f"kept {reason}", file=sys.stderr)
    print(
        f"{verb} {len(removed)} unused serving image tag(s); stacks that name one rebuild it on `pulumi up`"
    )
    if not args.dry_run:
        # Waits for builds that run now: their stages are the build cache they stand on.
        with image_build.file_lock(image_build.builds_lock_path()):
            reclaimed = image_build.prune_build_leftovers(client)
        print(f"removed untagged build leftovers: {reclaimed / 1e6:.0f} MB reclaimed")
    return 0


def _containers(endpoint: str, deployment: str, role: str | None = None) -> list[str]:
    filters = [f"label=io.mlendpoints.endpoint={endpoint}", f"label=io.mlendpoints.deployment={deployment}"]
    if role is not None:
        filters.append(f"label=io.mlendpoints.role={role}")
    proc = subprocess.run(
        ["docker", "ps", "--format", "{{.Names}}", *(f for flt in filters for f in ("--filter", flt))],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return proc.stdout.split()


def _instances(endpoint: str, deployment: str) -> list[str]:
    # Instance names are <endpoint>-<deployment>-<index>-<digest>: order by index.
    def index(name: str) -> int:
        parts = name.rsplit("-", 2)
        return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else 0

    return sorted(_containers(endpoint, deployment), key=index)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mle", description=__doc__)
    p.add_argument("--stack", default="local", help="Pulumi stack (default: local)")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("show", help="state, URIs and deployments of an endpoint (no name: every endpoint)")
    s.add_argument("endpoint", nargs="?")
    s.set_defaults(func=show)
    i = sub.add_parser("invoke", help="send a request file to the endpoint (with its primary key)")
    i.add_argument("endpoint", nargs="?")
    body = i.add_mutually_exclusive_group(required=True)
    body.add_argument("--request-file", help="JSON request body (as az ml online-endpoint invoke)")
    body.add_argument("--file", help="upload a file as multipart/form-data (as curl -F file=@PATH)")
    body.add_argument("--data-binary", help="send a file's bytes as the body (as curl --data-binary @PATH)")
    i.add_argument("--field", default="file", help="form field of --file (default: file)")
    i.add_argument(
        "--content-type", help="Content-Type of the body (default: JSON, or guessed from the file)"
    )
    i.add_argument("--output", help="save the answer to this file (needed for answers that are not text)")
    i.add_argument("--deployment", help="route to this deployment (azureml-model-deployment header)")
    i.add_argument("--timeout", type=float, default=60)
    i.set_defaults(func=invoke)
    t = sub.add_parser("token", help="a token for an endpoint in a token auth mode (like get-credentials)")
    t.add_argument("endpoint", nargs="?")
    t.add_argument("--ttl", type=float, default=3600, help="lifetime in seconds (default 3600)")
    t.set_defaults(func=token)
    g = sub.add_parser(
        "logs", help="container logs: a deployment's instances, the router, a batch controller or nodes"
    )
    g.add_argument("endpoint", nargs="?", help="default: the stack's only online endpoint")
    g.add_argument(
        "--deployment", help="deployment name (omit for the router's log, or a batch endpoint's controller)"
    )
    g.add_argument("--agent", action="store_true", help="the endpoint's agent's log")
    g.add_argument("--instance", type=int, help="instance index (default: all)")
    g.add_argument("--tail", type=int, default=50)
    g.set_defaults(func=logs)
    r = sub.add_parser("prune-images", help="remove serving images that no container uses")
    r.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    r.set_defaults(func=prune_images)
    from components import batch_cli, preview_cli  # batch_cli builds on this module's helpers

    batch_cli.add_parser(sub)
    preview_cli.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (CliError, PreviewRunError) as exc:
        print(f"mle: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nmle: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `mle ... | head`: the reader is gone, nothing left to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:  # a file or folder the command reads or writes: one line, no traceback
        print(f"mle: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    # Run the importable module's main: `components.batch_cli` imports `components.endpoint_cli`, and
    # its CliError must be the class main() catches, not a second copy defined in `__main__`.
    from components.endpoint_cli import main as cli_main

    sys.exit(cli_main())
