#!/usr/bin/python3
"""tests/cri/cri.py — a CRI v1 client, speaking to containerd's CRI plugin as the kubelet does.

The message code is generated from tests/cri/api.proto (upstream runtime.v1, field for field) by
protoc into a temporary directory at each start; nothing generated is kept.

  cri.py -s SOCK call METHOD [JSON]     one RPC; JSON is the request (proto3 JSON, field names as
                                        in api.proto or camelCase), '-' reads it from stdin; prints
                                        the response as JSON with api.proto's field names
  cri.py -s SOCK exec CID [-t S] CMD…   ExecSync: the command's stdout and stderr on ours, and its
                                        exit code as ours
  cri.py -s SOCK podup SPEC.json        the kubelet's pod start, timed: SPEC is {"handler": H,
                                        "pod": PodSandboxConfig, "containers": [ContainerConfig…],
                                        "count": N, "parallel": P}; each of N pods (P at once) gets
                                        RunPodSandbox, CreateContainer and StartContainer for each
                                        container, then ContainerStatus until every one is RUNNING;
                                        prints one JSON line per pod: pod_id, container_ids, ms
  cri.py -s SOCK poddown POD_ID…        StopPodSandbox then RemovePodSandbox of each

A failed RPC prints one line, `cri: METHOD: CODE: details`, and exits 2.
"""
import argparse
import concurrent.futures
import copy
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time

import grpc
from google.protobuf import json_format

HERE = os.path.dirname(os.path.abspath(__file__))


def load_api():
    """api_pb2, generated now from api.proto by the protoc of Debian's protobuf-compiler."""
    with tempfile.TemporaryDirectory(prefix="vessel-cri-gen.") as out:
        try:
            subprocess.run(["protoc", "-I", HERE, "--python_out=" + out, os.path.join(HERE, "api.proto")],
                           check=True, capture_output=True, text=True)
        except FileNotFoundError:
            sys.exit("cri: protoc not found (apt-get install protobuf-compiler)")
        except subprocess.CalledProcessError as e:
            sys.exit("cri: protoc failed: " + e.stderr.strip().replace("\n", "; "))
        sys.path.insert(0, out)
        try:
            return importlib.import_module("api_pb2")
        finally:
            sys.path.remove(out)


API = load_api()
SERVICES = {s.name: s for s in API.DESCRIPTOR.services_by_name.values()}


class CriError(Exception):
    def __init__(self, method, err):
        super().__init__(f"{method}: {err.code().name}: {err.details()}")


class Client:
    def __init__(self, socket, timeout):
        self.channel = grpc.insecure_channel("unix://" + os.path.abspath(socket))
        self.timeout = timeout
        self.stubs = {}

    def stub(self, method):
        if method not in self.stubs:
            for service in SERVICES.values():
                m = service.methods_by_name.get(method)
                if m:
                    req, resp = getattr(API, m.input_type.name), getattr(API, m.output_type.name)
                    self.stubs[method] = (req, self.channel.unary_unary(
                        f"/{service.full_name}/{method}",
                        request_serializer=req.SerializeToString,
                        response_deserializer=resp.FromString))
                    break
            else:
                raise SystemExit(f"cri: no method {method} in tests/cri/api.proto")
        return self.stubs[method]

    def call(self, method, request=None, timeout=None):
        """one RPC; request is a dict (proto3 JSON) or a message"""
        req_type, rpc = self.stub(method)
        if not isinstance(request, req_type):
            request = json_format.ParseDict(request or {}, req_type())
        try:
            return rpc(request, timeout=timeout or self.timeout)
        except grpc.RpcError as e:
            raise CriError(method, e) from None


def to_json(message):
    return json_format.MessageToJson(message, preserving_proto_field_name=True, indent=None)


def wait_running(client, cid, deadline):
    running = API.ContainerState.Value("CONTAINER_RUNNING")
    while True:
        st = client.call("ContainerStatus", {"container_id": cid}).status
        if st.state == running:
            return
        if st.state != API.ContainerState.Value("CONTAINER_CREATED") or time.monotonic() > deadline:
            raise RuntimeError(f"container {cid}: {API.ContainerState.Name(st.state)} {st.reason} {st.message}".strip())
        time.sleep(0.005)


def pod_up(client, spec, index):
    """one pod started as the kubelet starts it; returns its ids and the time it took"""
    pod = copy.deepcopy(spec["pod"])
    meta = pod.setdefault("metadata", {})
    meta["name"] = f"{meta.get('name', 'pod')}-{index}"
    meta["uid"] = f"{meta.get('uid', 'uid')}-{index}"
    parents = spec.get("cgroup_parents")
    if parents:  # a pod cgroup of its own, as the kubelet makes one per pod
        pod.setdefault("linux", {})["cgroup_parent"] = parents[index]
    t0 = time.monotonic()
    pid = client.call("RunPodSandbox", {"config": pod, "runtime_handler": spec.get("handler", "")}).pod_sandbox_id
    cids = []
    try:
        for c in spec["containers"]:
            cids.append(client.call("CreateContainer", {"pod_sandbox_id": pid, "config": c,
                                                        "sandbox_config": pod}).container_id)
            client.call("StartContainer", {"container_id": cids[-1]})
        for cid in cids:
            wait_running(client, cid, t0 + client.timeout)
    except Exception as e:
        return {"pod_id": pid, "container_ids": cids, "error": str(e)}
    return {"pod_id": pid, "container_ids": cids, "ms": round((time.monotonic() - t0) * 1000, 1)}


def main():
    ap = argparse.ArgumentParser(prog="cri.py")
    ap.add_argument("-s", "--socket", required=True)
    ap.add_argument("--timeout", type=float, default=180, help="seconds per RPC (default 180)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("call"); c.add_argument("method"); c.add_argument("request", nargs="?", default="{}")
    e = sub.add_parser("exec"); e.add_argument("-t", type=int, default=60); e.add_argument("cid"); e.add_argument("argv", nargs=argparse.REMAINDER)
    u = sub.add_parser("podup"); u.add_argument("spec")
    d = sub.add_parser("poddown"); d.add_argument("ids", nargs="*")
    a = ap.parse_args()
    client = Client(a.socket, a.timeout)
    try:
        if a.cmd == "call":
            text = sys.stdin.read() if a.request == "-" else a.request
            try:
                request = json.loads(text)
            except ValueError as err:
                sys.exit(f"cri: the request is not JSON: {err}")
            try:
                print(to_json(client.call(a.method, request)))
            except json_format.ParseError as err:
                sys.exit(f"cri: bad {a.method} request: {err}")
        elif a.cmd == "exec":
            if not a.argv:
                sys.exit("cri: exec needs a command")
            r = client.call("ExecSync", {"container_id": a.cid, "cmd": a.argv, "timeout": a.t}, timeout=a.t + 30)
            sys.stdout.buffer.write(r.stdout); sys.stdout.flush()
            sys.stderr.buffer.write(r.stderr); sys.stderr.flush()
            sys.exit(r.exit_code)
        elif a.cmd == "podup":
            with open(a.spec) as f:
                spec = json.load(f)
            n, par = int(spec.get("count", 1)), int(spec.get("parallel", 1))
            with concurrent.futures.ThreadPoolExecutor(max_workers=par) as pool:
                for result in pool.map(lambda i: pod_up(client, spec, i), range(n)):
                    print(json.dumps(result), flush=True)
        elif a.cmd == "poddown":
            for pid in a.ids:
                client.call("StopPodSandbox", {"pod_sandbox_id": pid})
                client.call("RemovePodSandbox", {"pod_sandbox_id": pid})
    except CriError as err:
        print(f"cri: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
