"""A release run the way an AWX execution node runs a job: ansible-runner with a private
data directory, the job template's extra variables, and the cluster credential injected as
K8S_AUTH_* environment variables (host, bearer token, CA file), with no kubeconfig at all.
The assertions read the job's artifacts: the set_stats data AWX shows as the job's
artifacts and passes to the next nodes of a workflow."""

import base64
import http.server
import os
import sys
import threading

import ansible_runner
import yaml

from modules import COLLECTIONS, ensure_collection_link

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    DEPLOYMENT,
    NAMESPACE,
    KubeError,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import Check
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import wait_for

PLAYBOOKS = os.path.join(os.path.dirname(COLLECTIONS), "playbooks")


class _Failing(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        self.send_response(503)
        self.end_headers()
        self.wfile.write(b"down")

    def log_message(self, *args):
        pass


def awx_credential(kubeconfig, directory):
    """What the docs/awx.md credential type injects: K8S_AUTH_HOST, K8S_AUTH_API_KEY, and the
    CA as a file (AWX writes file injectors to the job's private directory)."""
    config = yaml.safe_load(open(kubeconfig))
    context = next(c["context"] for c in config["contexts"]
                   if c["name"] == config["current-context"])
    cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
    user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
    ca_file = os.path.join(str(directory), "ca.crt")
    with open(ca_file, "wb") as handle:
        handle.write(base64.b64decode(cluster["certificate-authority-data"]))
    return {"K8S_AUTH_HOST": cluster["server"], "K8S_AUTH_API_KEY": user["token"],
            "K8S_AUTH_SSL_CA_CERT": ca_file, "K8S_AUTH_VERIFY_SSL": "True"}


def test_release_through_ansible_runner_reports_its_artifacts(kube, kubeconfig, tmp_path,
                                                              monkeypatch):
    ensure_collection_link()
    namespace = "pd-runner-%s" % os.urandom(3).hex()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # The job's environment holds nothing but what AWX gives it: no kubeconfig.
    for name in list(os.environ):
        if name == "KUBECONFIG" or name.startswith("K8S_AUTH_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    env = awx_credential(kubeconfig, tmp_path)
    env.update(ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_NOCOLOR="1")
    extra_vars = {
        "release_namespace": namespace, "release_version": "v2", "release_quick": True,
        "release_replicas": 4, "release_gate_interval": "1s",
        "release_steps": "- weight: 25\n- pause: 2s\n- weight: 100\n",
        "release_gates": [{"name": "smoke", "type": "http",
                           "url": "http://127.0.0.1:%d/healthz" % server.server_port,
                           "requests": 3, "success_rate": 100, "timeout": 2}],
    }
    (tmp_path / "job").mkdir()
    try:
        job = ansible_runner.run(
            private_data_dir=str(tmp_path / "job"), project_dir=PLAYBOOKS,
            playbook="canary.yml", extravars=extra_vars, envvars=env,
            inventory="localhost ansible_connection=local ansible_python_interpreter=%s"
            % sys.executable,
            quiet=True, ident="release")
        stats_events = [e for e in job.events if e.get("event") == "playbook_on_stats"]
        artifacts = stats_events[-1]["event_data"].get("artifact_data") or {}
        assert job.status == "failed" and job.rc != 0, job.stdout.read()[-3000:]
        assert artifacts["canary_outcome"] == "rolled_back", artifacts
        assert artifacts["canary_version"] == "v2"
        assert artifacts["canary_stable_version"] == "v1"
        assert artifacts["canary_live_version"] == "v1"
        assert artifacts["canary_failed_gates"] == ["smoke"]
        assert artifacts["canary_failed_step"].startswith("1/3")
        # The job reached the cluster through the injected credential only.
        assert kube.get(DEPLOYMENT, namespace, "myapp")["spec"]["template"]["spec"][
            "containers"][0]["image"] == "ikubernetes/myapp:v1"
        excerpt = dict((k, artifacts[k]) for k in sorted(artifacts)
                       if k.startswith("canary_") and k != "canary_message")
        print("ansible-runner artifact_data: %s" % excerpt)
    finally:
        server.shutdown()
        try:
            kube.delete(NAMESPACE, None, namespace)
        except KubeError as err:
            if not err.not_found:
                raise
        wait_for(kube, NAMESPACE, None, namespace,
                 lambda obj: Check(obj is None, "namespace still terminating"), 120)
