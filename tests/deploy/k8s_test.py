"""deploy/k8s: the example overlay renders with `kubectl kustomize` (when kubectl is
installed), every resource passes strict schema validation (kubernetes-validate,
offline), the pieces agree with each other (rendezvous address, world size, worker
addresses, Secret and ConfigMap names), and the training config in the ConfigMap is
accepted by `rlvr train --check`.

    python k8s_test.py RLVR_BINARY SOURCE_DIR
"""

import os
import shutil
import subprocess
import sys
import tempfile

import yaml


def fail(message):
    print("FAIL: " + message, file=sys.stderr)
    sys.exit(1)


def render(source, work):
    """The example overlay rendered by kustomize, or the base files joined."""
    k8s = os.path.join(work, "k8s")
    shutil.copytree(os.path.join(source, "deploy", "k8s"), k8s)
    base = os.path.join(k8s, "base")
    overlay = os.path.join(k8s, "overlays", "example")
    with open(os.path.join(overlay, "token"), "w") as f:
        f.write("test-token\n")
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        print("note: kubectl not installed; validating the base files without kustomize")
        with open(os.path.join(base, "kustomization.yaml")) as f:
            listed = yaml.safe_load(f)["resources"]
        docs = []
        for name in listed:
            with open(os.path.join(base, name)) as f:
                docs += [d for d in yaml.safe_load_all(f) if d]
        return docs, None
    out = subprocess.run([kubectl, "kustomize", overlay], capture_output=True, text=True)
    if out.returncode != 0:
        fail("kubectl kustomize failed: " + out.stderr)
    path = os.path.join(work, "rendered.yaml")
    with open(path, "w") as f:
        f.write(out.stdout)
    return [d for d in yaml.safe_load_all(out.stdout) if d], path


def main():
    rlvr, source = sys.argv[1], sys.argv[2]
    work = tempfile.mkdtemp(prefix="rlvr_k8s_")
    try:
        docs, rendered = render(source, work)
        by_kind = {}
        for d in docs:
            by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
        for kind in ("ConfigMap", "PersistentVolumeClaim", "StatefulSet", "Deployment", "Job",
                     "Service"):
            if kind not in by_kind:
                fail("no %s in the manifests" % kind)

        # Strict schema validation of every resource, offline.
        files = [rendered] if rendered else []
        if not files:
            for i, d in enumerate(docs):
                files.append(os.path.join(work, "doc%d.yaml" % i))
                with open(files[-1], "w") as f:
                    yaml.safe_dump(d, f)
        validate = [sys.executable, "-m", "kubernetes_validate", "--strict", "--no-warn"] + files
        out = subprocess.run(validate, capture_output=True, text=True)
        print(out.stdout + out.stderr)
        if out.returncode != 0:
            fail("kubernetes-validate refused the manifests")
        # The validator itself must refuse a broken resource (the check is not vacuous).
        broken = dict(by_kind["Job"]["rlvr-learner"])
        broken["spec"] = dict(broken["spec"], paralelism=2)  # misspelt field
        with open(os.path.join(work, "broken.yaml"), "w") as f:
            yaml.safe_dump(broken, f)
        out = subprocess.run(validate[:-len(files)] + [os.path.join(work, "broken.yaml")],
                             capture_output=True, text=True)
        if out.returncode == 0:
            fail("kubernetes-validate accepted a Job with a misspelt field")

        # The pieces agree.
        job = by_kind["Job"]["rlvr-learner"]
        pod = job["spec"]["template"]["spec"]
        env = {e["name"]: e for e in pod["containers"][0]["env"]}
        if job["spec"].get("completionMode") != "Indexed":
            fail("the learner Job is not Indexed")
        if int(env["WORLD_SIZE"]["value"]) != job["spec"]["completions"]:
            fail("WORLD_SIZE differs from the Job's completions")
        if job["spec"]["parallelism"] != job["spec"]["completions"]:
            fail("not every rank runs at once (parallelism != completions)")
        expected_master = "%s-0.%s" % (job["metadata"]["name"], pod["subdomain"])
        if env["MASTER_ADDR"]["value"] != expected_master:
            fail("MASTER_ADDR %s, expected %s" % (env["MASTER_ADDR"]["value"], expected_master))
        headless = by_kind["Service"].get(pod["subdomain"])
        if headless is None or headless["spec"].get("clusterIP") != "None":
            fail("no headless Service named after the learner pods' subdomain")
        if "job-completion-index" not in env["RANK"]["valueFrom"]["fieldRef"]["fieldPath"]:
            fail("RANK does not come from the completion index")
        config = by_kind["ConfigMap"]["rlvr-config"]["data"]
        train = yaml.safe_load(config["train.yaml"])
        rollout = by_kind["StatefulSet"]["rlvr-rollout"]
        expected_workers = ["%s-%d.%s:50051" % (rollout["metadata"]["name"], i,
                                                 rollout["spec"]["serviceName"])
                            for i in range(rollout["spec"]["replicas"])]
        if train["rollout"]["workers"] != expected_workers:
            fail("rollout.workers %s, expected one per StatefulSet replica %s" %
                 (train["rollout"]["workers"], expected_workers))
        if rollout["spec"]["serviceName"] not in by_kind["Service"]:
            fail("the rollout StatefulSet's headless Service is missing")
        secrets = list(by_kind.get("Secret", {}))
        for d in docs:
            spec = d.get("spec", {}).get("template", {}).get("spec", {})
            for v in spec.get("volumes", []):
                if "secret" in v and secrets and v["secret"]["secretName"] not in secrets:
                    fail("%s mounts an unknown Secret %s" % (d["metadata"]["name"],
                                                            v["secret"]["secretName"]))
                if "configMap" in v and v["configMap"]["name"] not in by_kind["ConfigMap"]:
                    fail("%s mounts an unknown ConfigMap" % d["metadata"]["name"])
        verifier_target = train["verifiers"]["math"]["target"]
        if verifier_target.split(":")[0] not in by_kind["Service"]:
            fail("verifiers.math.target %s names no Service" % verifier_target)

        # `rlvr train --check` accepts the config with the Job's own overrides (the token
        # file path replaced by a local one); a typo in it would be refused.
        token = os.path.join(work, "token")
        with open(token, "w") as f:
            f.write("test-token\n")
        cfg = os.path.join(work, "train.yaml")
        with open(cfg, "w") as f:
            f.write(config["train.yaml"])
        args = [a for a in pod["containers"][0]["args"] if a not in ("train", "--resume")]
        args = [a.replace("/etc/rlvr/train.yaml", cfg).replace("/var/run/rlvr/token", token)
                .replace("run.dir=/runs", "run.dir=" + os.path.join(work, "runs")) for a in args]
        out = subprocess.run([rlvr, "train", "--check"] + args, capture_output=True, text=True)
        print(out.stdout + out.stderr)
        if out.returncode != 0 or "config OK" not in out.stdout:
            fail("rlvr train --check refused the ConfigMap's config")
        out = subprocess.run([rlvr, "train", "--check"] + args + ["learner.stpes=3"],
                             capture_output=True, text=True)
        if out.returncode != 2 or "learner.stpes" not in out.stderr:
            fail("rlvr train --check accepted a misspelt key: " + out.stdout + out.stderr)
        verifier_cfg = yaml.safe_load(config["verifier.yaml"])
        if verifier_cfg["serve"]["port"] != int(verifier_target.split(":")[1]):
            fail("the verifier service port differs from verifiers.math.target")
        print("PASS")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
