"""Checks examples/kubernetes/ without a cluster or a container runtime (run by examples/check.sh).

The manifests parse as YAML and carry what a Kubernetes Job needs; the Indexed Job's shard count,
GPU and volumes agree; the Dockerfile builds host with the README's command and pins the ONNX
Runtime that scripts/fetch-ort.sh fetches; with a built host (--host), every flag the examples pass
to host exists. Exit status 1 on any failure, each named on one line.

    python3 examples/check_examples.py --root . [--k8s-dir DIR] [--host target/debug/host]
"""

import argparse
import pathlib
import re
import subprocess
import sys

import yaml

BUILD = "cargo build --release -p host"
failures = []
passed = 0


def check(condition, what):
    global passed
    if condition:
        passed += 1
    else:
        failures.append(what)
        print(f"FAIL: {what}")
    return condition


def dig(value, *keys):
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def load(path):
    try:
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except (OSError, yaml.YAMLError) as error:
        check(False, f"{path.name}: not valid YAML: {error}".replace("\n", " "))
        return []
    check(documents, f"{path.name}: no document")
    for doc in documents:
        ok = isinstance(doc, dict) and all(
            isinstance(doc.get(k), str) and doc[k] for k in ("apiVersion", "kind")
        )
        check(ok, f"{path.name}: a document without apiVersion and kind")
        check(dig(doc, "metadata", "name"), f"{path.name}: a document without metadata.name")
    return [d for d in documents if isinstance(d, dict)]


def shell_script(container):
    """The shell script of a container whose command is [sh, -c] (script in command or args)."""
    words = list(container.get("command") or []) + list(container.get("args") or [])
    if len(words) >= 3 and words[0] in ("sh", "/bin/sh", "bash", "/bin/bash") and words[1] == "-c":
        return words[0].rsplit("/", 1)[-1], words[2]
    return None, None


def check_pod_spec(where, spec, claims):
    containers = dig(spec, "containers")
    if not check(isinstance(containers, list) and containers, f"{where}: no containers"):
        return []
    check(
        spec.get("restartPolicy") in ("Never", "OnFailure"),
        f"{where}: restartPolicy must be Never or OnFailure, not {spec.get('restartPolicy')!r}",
    )
    volumes = {v.get("name"): v for v in spec.get("volumes") or [] if isinstance(v, dict)}
    for volume in volumes.values():
        claim = dig(volume, "persistentVolumeClaim", "claimName")
        if claim is not None:
            check(claim in claims, f"{where}: volume {volume.get('name')} claims {claim!r}, "
                  f"not a PersistentVolumeClaim of these manifests ({sorted(claims)})")
    for c in containers:
        name = c.get("name") if isinstance(c, dict) else None
        check(isinstance(name, str) and name, f"{where}: a container without name")
        if not isinstance(c, dict):
            continue
        check(isinstance(c.get("image"), str) and c["image"], f"{where}/{name}: no image")
        command = c.get("command")
        check(isinstance(command, list) and command and all(isinstance(w, str) for w in command),
              f"{where}/{name}: command must be a non-empty list of strings")
        check(isinstance(c.get("args", []), list) and all(isinstance(w, str) for w in c.get("args", [])),
              f"{where}/{name}: args must be a list of strings")
        for mount in c.get("volumeMounts") or []:
            check(mount.get("name") in volumes and mount.get("mountPath"),
                  f"{where}/{name}: volumeMount {mount.get('name')!r} names no volume or has no mountPath")
        for env in c.get("env") or []:
            check(isinstance(env.get("name"), str) and ("value" not in env or isinstance(env["value"], str)),
                  f"{where}/{name}: env {env.get('name')!r}: values must be strings (quote numbers)")
        shell, script = shell_script(c)
        if script is not None:
            result = subprocess.run([shell, "-n", "-c", script], capture_output=True, text=True)
            check(result.returncode == 0, f"{where}/{name}: shell script: {result.stderr.strip()}")
    return [c for c in containers if isinstance(c, dict)]


def env_of(container):
    return {e.get("name"): e.get("value") for e in container.get("env") or [] if isinstance(e, dict)}


def text_of(container):
    return " ".join(list(container.get("command") or []) + list(container.get("args") or []))


def check_job(where, job, claims):
    check(job.get("apiVersion") == "batch/v1", f"{where}: apiVersion must be batch/v1")
    spec = job.get("spec") if isinstance(job.get("spec"), dict) else {}
    for field in ("completions", "parallelism", "backoffLimit"):
        value = spec.get(field)
        check(value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0),
              f"{where}: spec.{field} must be a whole number")
    completions, parallelism = spec.get("completions"), spec.get("parallelism")
    if isinstance(completions, int) and isinstance(parallelism, int):
        check(1 <= parallelism <= completions, f"{where}: parallelism must be 1..completions")
    check(dig(spec, "template", "spec"), f"{where}: no spec.template.spec")
    return spec, check_pod_spec(where, dig(spec, "template", "spec") or {}, claims)


def host_flags(host):
    """Every --flag that host's help and its merge subcommand's help list."""
    flags = set()
    for args in ([host, "--help"], [host, "merge", "--help"]):
        result = subprocess.run(args, capture_output=True, text=True)
        check(result.returncode == 0, f"{' '.join(args)} fails: {result.stderr.strip()[:200]}")
        flags |= set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", result.stdout))
    return flags


def invocations(text):
    """The argument words of each host command in a script: continuation lines joined."""
    joined = re.sub(r"\\\n", " ", text)
    found = []
    for line in joined.splitlines():
        match = re.search(r'(?:^|[\s;&|(])(?:exec\s+)?(?:"\$HOST_BIN"|\$HOST_BIN|/usr/local/bin/host)\s(.*)', line)
        if line.lstrip().startswith("#"):
            continue
        if match:
            found.append(match.group(1))
        elif re.match(r"\s*(?:outputs\+?=\(|set -- )", line):  # arguments gathered before the call
            found.append(line)
    return found


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", type=pathlib.Path, required=True)
    parser.add_argument("--k8s-dir", type=pathlib.Path)
    parser.add_argument("--host", help="a built host: check that the examples' flags exist")
    options = parser.parse_args()
    root = options.root
    k8s = options.k8s_dir or root / "examples" / "kubernetes"

    manifests = {name: load(k8s / name) if check((k8s / name).is_file(), f"{name} missing") else []
                 for name in ("job.yaml", "merge-job.yaml", "pvc.yaml")}
    every = [doc for docs in manifests.values() for doc in docs]
    claims = set()
    for doc in every:
        if doc.get("kind") == "PersistentVolumeClaim":
            name = dig(doc, "metadata", "name")
            claims.add(name)
            check(doc.get("apiVersion") == "v1", f"PVC {name}: apiVersion must be v1")
            check("ReadWriteMany" in (dig(doc, "spec", "accessModes") or []),
                  f"PVC {name}: accessModes must include ReadWriteMany (pods on several nodes)")
            check(dig(doc, "spec", "resources", "requests", "storage"), f"PVC {name}: no storage request")
    check(claims, "pvc.yaml: no PersistentVolumeClaim")
    for doc in every:
        if doc.get("kind") == "Pod":
            check(doc.get("apiVersion") == "v1", "Pod: apiVersion must be v1")
            check_pod_spec(f"Pod {dig(doc, 'metadata', 'name')}", doc.get("spec") or {}, claims)

    images = set()
    jobs = {name: [d for d in docs if d.get("kind") == "Job"] for name, docs in manifests.items()}
    check(len(jobs["job.yaml"]) == 1, "job.yaml: must hold exactly one Job")
    for job in jobs["job.yaml"]:
        spec, containers = check_job("job.yaml", job, claims)
        check(spec.get("completionMode") == "Indexed", "job.yaml: spec.completionMode must be Indexed")
        completions = spec.get("completions")
        check(isinstance(completions, int) and completions >= 1, "job.yaml: spec.completions must be set (N)")
        check(len(containers) == 1, "job.yaml: one container per pod")
        for c in containers:
            images.add(c.get("image"))
            check(env_of(c).get("HOST_SHARD_COUNT") == str(completions),
                  f"job.yaml: env HOST_SHARD_COUNT ({env_of(c).get('HOST_SHARD_COUNT')!r}) "
                  f"must equal spec.completions ({completions})")
            check("--shard auto" in text_of(c), "job.yaml: host must run with --shard auto")
            check("JOB_COMPLETION_INDEX" in text_of(c), "job.yaml: part names must use JOB_COMPLETION_INDEX")
            gpus = dig(c, "resources", "limits", "nvidia.com/gpu")
            check(gpus == 1, f"job.yaml: resources.limits nvidia.com/gpu must be 1, not {gpus!r}")
            check(c.get("volumeMounts"), "job.yaml: the shared volume must be mounted")
    check(len(jobs["merge-job.yaml"]) == 1, "merge-job.yaml: must hold exactly one Job")
    for job in jobs["merge-job.yaml"]:
        spec, containers = check_job("merge-job.yaml", job, claims)
        check(spec.get("completionMode", "NonIndexed") == "NonIndexed", "merge-job.yaml: one merge, not Indexed")
        for c in containers:
            images.add(c.get("image"))
            check("host merge --save-npy" in text_of(c), "merge-job.yaml: must run host merge --save-npy")
            check(c.get("volumeMounts"), "merge-job.yaml: the shared volume must be mounted")
    check(len(images) == 1, f"job.yaml and merge-job.yaml must use one image, not {sorted(map(str, images))}")

    # The container build: the README's build command, the ONNX Runtime that fetch-ort.sh fetches.
    dockerfile = (k8s / "Dockerfile").read_text() if check((k8s / "Dockerfile").is_file(), "Dockerfile missing") else ""
    readme = root / "README.md"
    check(readme.is_file() and BUILD in readme.read_text(), f"README.md: no `{BUILD}`")
    check(re.search(rf"^RUN {re.escape(BUILD)}\s*$", dockerfile, re.M), f"Dockerfile: no `RUN {BUILD}`")
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", dockerfile, re.M | re.I)
    check(len(stages) >= 2, "Dockerfile: must be multi-stage")
    check(stages and stages[0][0].startswith("rust:"), "Dockerfile: the first stage must build in a rust image")
    check(stages and re.match(r"nvidia/cuda:13\.[\d.]+-cudnn-runtime-", stages[-1][0]),
          "Dockerfile: the runtime must be an nvidia/cuda 13 cudnn-runtime image")
    names = {alias for _, alias in stages if alias}
    for source in re.findall(r"^COPY\s+--from=(\S+)", dockerfile, re.M):
        check(source in names, f"Dockerfile: COPY --from={source} names no stage")
    for line in re.findall(r"^COPY\s+(?!--)(.+)$", dockerfile, re.M):
        for source in line.split()[:-1]:
            check(source == "." or (root / source).exists(), f"Dockerfile: COPY source {source} not in the repository")
    fetch = root / "scripts" / "fetch-ort.sh"
    version = re.search(r'==(\d+\.\d+\.\d+)"', fetch.read_text()) if fetch.is_file() else None
    if check(version, "scripts/fetch-ort.sh: no pinned ONNX Runtime version"):
        v = version.group(1)
        check(f"onnxruntime-gpu=={v}" in dockerfile, f"Dockerfile: must install onnxruntime-gpu=={v}")
        check(re.search(rf"^ENV\s+ORT_DYLIB_PATH=\S*/libonnxruntime\.so\.{re.escape(v)}\b", dockerfile, re.M),
              f"Dockerfile: ENV ORT_DYLIB_PATH must name libonnxruntime.so.{v}")
    check(re.search(r"tensorrt-cu13-libs==10\.\d+", dockerfile), "Dockerfile: must pin a TensorRT 10 for CUDA 13")
    ignore = k8s / "Dockerfile.dockerignore"
    check(ignore.is_file() and "**/target" in ignore.read_text().split(), "Dockerfile.dockerignore must exclude **/target")
    k8s_readme = (k8s / "README.md").read_text() if (k8s / "README.md").is_file() else ""
    check("docker build -f examples/kubernetes/Dockerfile" in k8s_readme,
          "kubernetes/README.md: must build with docker build -f examples/kubernetes/Dockerfile")
    for image in images:
        check(image and image in k8s_readme, f"kubernetes/README.md: must tag the image the Jobs use ({image})")

    # The flags passed to host, against a built host's help.
    if options.host:
        known = host_flags(options.host)
        scripts = sorted((root / "examples" / "slurm").glob("*.sbatch"))
        texts = [(p.name, p.read_text()) for p in scripts]
        for name, docs in manifests.items():
            texts += [(name, text_of(c)) for d in docs for c in dig(d, "spec", "template", "spec", "containers") or []]
        for name, text in texts:
            for words in invocations(text):
                for flag in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", words):
                    check(flag in known, f"{name}: host has no flag {flag} (per `{options.host} --help`)")

    print(f"examples: {passed} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
