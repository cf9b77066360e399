"""The fleet's own rollback of a blue/green cluster (roles/fleet/tasks/rollback_bluegreen.yml,
what a halt or a failed re-check runs on a cluster released earlier) takes the cluster's
release lease as the bluegreen role does: refused at once, naming the holder, while another
job holds it (nothing written), given back after it rolled back. Run on the shared testbed
alone, without a whole fleet release: the tasks file is included as the fleet includes it."""
import time

from playbooks import run_playbook, write_playbook
from test_k8s_bluegreen import deploy_v2, seed001_v1_live

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import SERVICE
from ansible_collections.progressive.delivery.plugins.module_utils.lease import holding as hd

LEASE_NAME = "myapp-release"
TAKE = "take the release lease for the rollback"


def rollback_play(namespace):
    return {
        "name": "the fleet rolls a released cluster back", "hosts": "localhost",
        "gather_facts": False,
        "tasks": [{
            "name": "the fleet's rollback of a blue/green cluster",
            "ansible.builtin.include_role": {"name": "progressive.delivery.fleet",
                                             "tasks_from": "rollback_bluegreen.yml"},
            "vars": {"fleet_strategy": "bluegreen", "bluegreen_app": "myapp",
                     "bluegreen_namespace": namespace, "bluegreen_version": "v2",
                     "bluegreen_service": "myapp-lan", "bluegreen_wait_timeout": 60},
        }],
    }


def v2_promoted(namespace):
    seed001_v1_live(namespace)
    result = deploy_v2(namespace, state="promoted")
    assert not result.get("failed"), result


def live_version(kube, namespace):
    return kube.get(SERVICE, namespace, "myapp-lan")["spec"]["selector"]["version"]


def test_the_rollback_is_refused_naming_the_job_that_holds_the_lease(kube, namespace, tmp_path):
    v2_promoted(namespace)
    other = "AWX job 77 on https://awx.example.com"
    now = time.time()
    kube.create(hd.LEASE, namespace, {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": LEASE_NAME},
        "spec": {"holderIdentity": other, "leaseDurationSeconds": 600,
                 "acquireTime": hd.format_time(now), "renewTime": hd.format_time(now)}})
    service_before = kube.get(SERVICE, namespace, "myapp-lan")["metadata"]["resourceVersion"]
    result = run_playbook(write_playbook(tmp_path, rollback_play(namespace)))
    assert result.failed, result.summary()
    (message,) = result.failure_messages()
    assert "is held by %s" % other in message, message
    assert "Traceback" not in result.stdout + result.stderr
    # nothing was rolled back, the other job keeps its lease
    assert "live traffic back to the previous version" not in " ".join(result.ran())
    assert kube.get(SERVICE, namespace, "myapp-lan")["metadata"]["resourceVersion"] == service_before
    assert live_version(kube, namespace) == "v2"
    assert kube.get(hd.LEASE, namespace, LEASE_NAME)["spec"]["holderIdentity"] == other


def test_the_rollback_takes_the_lease_and_gives_it_back(kube, namespace, tmp_path):
    v2_promoted(namespace)
    result = run_playbook(write_playbook(tmp_path, rollback_play(namespace)))
    assert not result.failed, result.summary()
    assert live_version(kube, namespace) == "v1"
    (taken,) = result.results_of(TAKE)
    assert taken["decision"] == "create" and "(localhost)" in taken["holder"], taken
    assert "fleet rollback of myapp v2" in taken["lease"]["purpose"], taken
    lease = kube.get(hd.LEASE, namespace, LEASE_NAME)
    assert hd.holding_of(lease) is None, lease
    assert lease["metadata"]["annotations"][hd.LAST_HOLDER] == taken["holder"]
    # taken before the switch back, given back after it
    ran = result.ran()
    order = [next(i for i, name in enumerate(ran) if part in name) for part in (
        TAKE, "live traffic back to the previous version", "give the release lease back")]
    assert order == sorted(order), ran
