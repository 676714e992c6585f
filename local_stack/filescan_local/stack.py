"""The whole local stack: moto, the Batch/Lambda control server, the dispatcher and the HTTP API.

``LocalStack(config).start()`` brings it up on 127.0.0.1 and points this process's boto3 environment
(``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_BATCH``, ``AWS_ENDPOINT_URL_LAMBDA``, fake credentials) at
it; ``stop()`` undoes everything and leaves no process behind. Production code is not touched.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from filescan_local import docker_runner, ecs_local, provision, role_credentials
from filescan_local.api_server import ApiServer
from filescan_local.batch_model import load_batch
from filescan_local.batch_service import BatchService, events_sink, start_delay_from_environment
from filescan_local.control_api import ControlServer
from filescan_local.dispatcher import Dispatcher, DispatchSettings
from filescan_local.environment import pointed_environment
from filescan_local.faults import Fault
from filescan_local.iam_policies import PolicySet, load_policies, write_policies
from filescan_local.iam_server import Enforcer, Recorder
from filescan_local.lambda_runtime import merged_environment
from filescan_local.template import REPO, TEMPLATE_PATH, Template, plain_yaml
from filescan_local.topology import Topology, build
from filescan_shared.engines.catalogue import Catalogue, parse_catalogue

log = logging.getLogger("filescan.local")
CATALOGUE_PATH = REPO / "engines" / "catalogue.yaml"
ENGINES_VARIABLE = "FILESCAN_LOCAL_ENGINES"
"""Comma list of engines to enable (the template's ``EnabledEngines`` parameter), like ``--engines``."""
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
IAM_MOTO_RECORD = "iam-moto.jsonl"
IAM_CONTROL_RECORD = "iam-control.jsonl"
LOCAL_RUNTIME_ENV = {
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "AWS_LAMBDA_FUNCTION_NAME": "filescan-local",
}


@dataclasses.dataclass(frozen=True)
class StackConfig:
    """How to run the local stack."""

    template_path: Path = TEMPLATE_PATH
    template_text: str | None = None
    """Template text to use instead of ``template_path`` (tests provision from edited copies)."""
    parameters: dict[str, str] = dataclasses.field(default_factory=dict)
    """Template parameter overrides (e.g. ``SpotMaxvCpus``)."""
    data_dir: Path | None = None
    """Where logs go; ``None`` = $FILESCAN_LOCAL_DATA, else a temporary directory removed on stop."""
    moto_port: int = 0
    control_port: int = 0
    api_port: int = 3000
    api_token: str | None = None
    max_visibility_timeout: int | None = 30
    dispatch: DispatchSettings = dataclasses.field(default_factory=DispatchSettings)
    use_docker: bool | None = dataclasses.field(default_factory=docker_runner.mode_from_environment)
    """Run jobs in containers of the job definition's image; ``None``: when an engine answers and
    holds that image (default from ``FILESCAN_LOCAL_DOCKER``: 1, 0 or unset = ``None``)."""
    faults: tuple[Fault, ...] = ()
    start_delay: float = dataclasses.field(default_factory=start_delay_from_environment)
    """Seconds each Batch attempt stays STARTING before it runs, like Fargate provisioning (default
    from ``FILESCAN_LOCAL_START_DELAY``; 0 = at once)."""
    log_level: str = "WARNING"
    enforce_iam: bool = True
    """Check every call a function or job makes against its role's policies (``iam_server``)."""
    catalogue_path: Path = CATALOGUE_PATH
    """The engine catalogue whose ``local_command`` runs an engine container without Docker."""


def engines_parameter(engines: str | None) -> dict[str, str]:
    """The ``EnabledEngines`` override for ``--engines`` (else ``$FILESCAN_LOCAL_ENGINES``; else none)."""
    chosen = engines if engines is not None else os.environ.get(ENGINES_VARIABLE, "")
    names = [name.strip() for name in chosen.split(",") if name.strip()]
    return {"EnabledEngines": ",".join(names)} if names else {}


def load_catalogue(path: Path) -> Catalogue | None:
    """The engine catalogue at ``path`` (``None`` when there is none)."""
    if not path.exists():
        return None
    return parse_catalogue(plain_yaml(path.read_text(encoding="utf-8")))


def default_parameters() -> dict[str, str]:
    """Local parameter defaults: vCPU caps sized to this machine, fast sweeps, quiet logs."""
    cpus = max(2, os.cpu_count() or 2)
    return {
        "SpotMaxvCpus": str(cpus),
        "OnDemandMaxvCpus": str(cpus),
        "TableDeletionProtection": "false",
        # The small-file fast path (ScanFunction) is opt-in locally: `up --parameter
        # FastPathMaxBytes=67108864` or StackConfig.parameters; the suites that inject Batch faults
        # into small files expect Batch jobs.
        "FastPathMaxBytes": "0",
    }


class LocalStack:
    """One running local stack."""

    def __init__(self, config: StackConfig | None = None) -> None:
        self.config = config or StackConfig()
        self.moto_url = ""
        self.topology: Topology | None = None
        self.batch: BatchService | None = None
        self.dispatcher: Dispatcher | None = None
        self.api: ApiServer | None = None
        self.control: ControlServer | None = None
        self.policies = PolicySet({}, {}, {}, None)
        self._credentials_installed = False
        self._moto: subprocess.Popen[bytes] | None = None
        self._environment = contextlib.ExitStack()
        self._temporary_dir: Path | None = None
        self.data_dir = Path()

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Start moto, provision the template, start Batch, the dispatcher and the API."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        self.data_dir = self._data_dir()
        port = self.config.moto_port or _free_port()
        self.moto_url = f"http://127.0.0.1:{port}"
        parameters = {**default_parameters(), "LogLevel": self.config.log_level, **self.config.parameters}
        template = self._template(parameters)
        self.policies = load_policies(template)
        self._start_moto(port)
        parameters.update(self._llm_parameters())
        template = self._template(parameters)
        self.topology = topology = build(template)
        role_credentials.install(CREDENTIALS["AWS_ACCESS_KEY_ID"])
        self._credentials_installed = True
        enforcer = Enforcer(self.policies, Recorder(self.data_dir / IAM_CONTROL_RECORD))
        provision.provision(
            topology, self.moto_url, max_visibility_timeout=self.config.max_visibility_timeout
        )

        environments, queues, definitions = load_batch(template)
        images = {str(d.container["image"]) for d in definitions if d.container.get("image")}
        use_docker = self.config.use_docker
        if use_docker is None:
            use_docker = bool(images) and all(docker_runner.available(image) for image in images)
        log.info("batch jobs run as %s", "containers" if use_docker else "subprocesses")
        self.batch = BatchService(
            environments,
            queues,
            definitions,
            sink=events_sink(provision.session_client("events", self.moto_url)),
            process_environment=self._job_environment(),
            log_dir=self.data_dir / "jobs",
            use_docker=use_docker,
            start_delay=self.config.start_delay,
            launcher=ecs_local.TaskLauncher(
                load_catalogue(self.config.catalogue_path), frozenset(images), use_docker
            ),
            role_keys={arn: role.access_key for arn, role in self.policies.roles.items()}
            if self.config.enforce_iam
            else {},
        )
        for fault in self.config.faults:
            self.batch.inject_fault(fault)
        access_keys = {
            logical_id: self.policies.roles[arn].access_key
            for logical_id, arn in self.policies.function_roles.items()
            if self.config.enforce_iam
        }
        self.dispatcher = Dispatcher(
            topology, provision.session_client("sqs", self.moto_url), self.config.dispatch, access_keys
        )
        self.control = ControlServer(
            self.batch,
            self.dispatcher.invoke_raw,
            port=self.config.control_port,
            enforcer=enforcer if self.config.enforce_iam else None,
            function_arn=lambda name: self.dispatcher.function(name).arn if self.dispatcher else name,
        )
        self.batch.metadata_base_url = f"{self.control.url}/v4"
        self._point_environment(topology)
        self._write_sam_env_vars(topology)
        self.batch.start()
        self.control.start()
        self.dispatcher.start()
        api_function = next(f for f in topology.functions.values() if f.logical_id == "ApiFunction")
        dispatcher = self.dispatcher
        self.api = ApiServer(
            template,
            lambda event: dispatcher.invoke(api_function.name, event),
            port=self.config.api_port,
            token=self.config.api_token,
        )
        self.api.start()
        log.info("local stack up: moto %s, batch %s, api %s", self.moto_url, self.control.url, self.api.url)

    def stop(self) -> None:
        """Stop everything started, restore the environment, remove a temporary data directory."""
        for component in (self.api, self.dispatcher, self.batch, self.control):
            if component is not None:
                with contextlib.suppress(Exception):
                    component.stop()
        self.api = self.dispatcher = self.batch = self.control = None
        if self._moto is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._moto.pid, signal.SIGTERM)
            try:
                self._moto.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self._moto.pid, signal.SIGKILL)
                self._moto.wait()
            self._moto = None
        self._environment.close()
        if self._credentials_installed:
            role_credentials.uninstall()
            self._credentials_installed = False
        if self._temporary_dir is not None:
            shutil.rmtree(self._temporary_dir, ignore_errors=True)
            self._temporary_dir = None

    # -- helpers ------------------------------------------------------------------------------------

    def client(self, service: str) -> Any:
        """A boto3 client for a moto-served service of this stack."""
        return provision.session_client(service, self.moto_url)

    def inject_fault(self, fault: Fault) -> None:
        """Register a Batch test fault while running."""
        assert self.batch is not None
        self.batch.inject_fault(fault)

    def _data_dir(self) -> Path:
        chosen = self.config.data_dir or (
            Path(os.environ["FILESCAN_LOCAL_DATA"]) if os.environ.get("FILESCAN_LOCAL_DATA") else None
        )
        if chosen is None:
            self._temporary_dir = Path(tempfile.mkdtemp(prefix="filescan-local-"))
            return self._temporary_dir
        chosen.mkdir(parents=True, exist_ok=True)
        return chosen

    def _template(self, parameters: dict[str, str]) -> Template:
        template = (
            Template.from_text(self.config.template_text, overrides=parameters)
            if self.config.template_text is not None
            else Template.load(self.config.template_path, overrides=parameters)
        )
        template.sqs_endpoint = self.moto_url
        return template

    def iam_decisions(self) -> list[dict[str, Any]]:
        """Every decision the enforcement points made about a role so far (JSON records)."""
        records = []
        for name in (IAM_MOTO_RECORD, IAM_CONTROL_RECORD):
            path = self.data_dir / name
            if path.exists():
                records += [json.loads(line) for line in path.read_text().splitlines() if line]
        return records

    def _start_moto(self, port: int) -> str:
        command = [sys.executable, "-m", "filescan_local.iam_server", "--port", str(port)]
        if self.config.enforce_iam:
            policy_file = write_policies(self.policies, self.data_dir / "iam-policies.json")
            command += ["--policies", str(policy_file), "--record", str(self.data_dir / IAM_MOTO_RECORD)]
        with (self.data_dir / "moto.log").open("ab") as sink:
            self._moto = subprocess.Popen(
                command,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **CREDENTIALS},
            )
        url = self.moto_url
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()  # noqa: S310 - loopback
                return url
            except OSError:
                if self._moto.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"moto server did not start (see {self.data_dir / 'moto.log'})"
                    ) from None
                time.sleep(0.1)

    def _llm_parameters(self) -> dict[str, str]:
        parameters = {}
        if os.environ.get("OPENAI_BASE_URL"):
            parameters["OpenAIBaseUrl"] = os.environ["OPENAI_BASE_URL"]
        if os.environ.get("OPENAI_API_KEY"):
            parameters["OpenAIApiKeySecretArn"] = provision.store_secret(
                self.moto_url, "filescan/openai", os.environ["OPENAI_API_KEY"]
            )
        return parameters

    def _job_environment(self) -> dict[str, str]:
        keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT"}
        base = {name: value for name, value in os.environ.items() if name in keep}
        credentials = dict(CREDENTIALS)
        if self.config.enforce_iam and self.policies.job_role in self.policies.roles:
            credentials["AWS_ACCESS_KEY_ID"] = self.policies.roles[self.policies.job_role].access_key
        return {**base, **credentials, "AWS_ENDPOINT_URL": self.moto_url}

    def _write_sam_env_vars(self, topology: Topology) -> None:
        """``sam-env-vars.json`` in the data dir: ``sam local invoke --env-vars`` against this stack.

        Per function: its template variables as resolved here, plus the endpoints. SAM CLI passes a
        function only the variables its template declares (the endpoints are declared empty).
        """
        assert self.control is not None
        endpoints = {
            "AWS_ENDPOINT_URL": self.moto_url,
            "AWS_ENDPOINT_URL_BATCH": self.control.url,
            "AWS_ENDPOINT_URL_LAMBDA": self.control.url,
        }
        variables = {
            function.logical_id: {**function.environment, **LOCAL_RUNTIME_ENV, **endpoints}
            for function in topology.functions.values()
        }
        (self.data_dir / "sam-env-vars.json").write_text(json.dumps(variables, indent=2))

    def _point_environment(self, topology: Topology) -> None:
        assert self.control is not None
        settings = {
            **CREDENTIALS,
            **merged_environment(list(topology.functions.values())),
            **LOCAL_RUNTIME_ENV,
            "AWS_ENDPOINT_URL": self.moto_url,
            "AWS_ENDPOINT_URL_BATCH": self.control.url,
            "AWS_ENDPOINT_URL_LAMBDA": self.control.url,
        }
        self._environment.enter_context(pointed_environment(settings))


def _free_port() -> int:
    import socket  # noqa: PLC0415

    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
