# tests/cri/lib.sh — containerd's CRI plugin of a test's own, driven as the kubelet drives it.
# Sourced after tests/lib.sh by tests/e2e/cri.sh and bench/cri/run.
#
#   cri_start       containerd with the CRI plugin: its own root, state, socket, CNI config and
#                   bin dirs (bridge vessel-cri0, 10.213.91.0/24, host-local), the pause and busybox
#                   images imported into k8s.io; the runtimes are the README's block, as it stands
#                   but for the binaries' paths (this build's). The shims' `vessel` reaches a
#                   daemon of the run's own (tests/lib.sh private_daemon: VESSEL_SOCKET and
#                   VESSEL_CONFIG are in containerd's environment, which its shims inherit), so
#                   no other suite's daemon serves it and its memory is the pods' alone.
#                   Everything goes at exit.
#   cri ARGS…       tests/cri/cri.py against it (call METHOD JSON | exec CID CMD… | podup | poddown)
#   cri_pod_cgroup UID MEMORY   makes the pod's cgroup parent where the kubelet (cgroupfs driver)
#                   would, /kubepods/burstable/pod<UID> in every hierarchy, with the memory limit;
#                   prints the parent to give in the pod's config
# shellcheck shell=bash

CRI_DIR=$T/cri
CRI_SOCK=$CRI_DIR/containerd.sock
CRI_BRIDGE=vessel-cri0
CRI_SUBNET=10.213.91.0/24
PAUSE_IMAGE=localhost/pause:vessel
CRI_PY=/usr/bin/python3    # Debian's, which has python3-grpcio and python3-protobuf
export CRI_DIR CRI_SOCK PAUSE_IMAGE CRI_PY

cri() { "$CRI_PY" "$REPO/tests/cri/cri.py" -s "$CRI_SOCK" "$@"; }
ctr_k8s() { ctr --address "$CRI_SOCK" -n k8s.io "$@"; }
export -f cri ctr_k8s

# readme_cri_runtimes — the toml block under README's `cri-runtimes` marker, unindented
readme_cri_runtimes() {
  awk '/<!-- cri-runtimes/ {on = 1; next} on && /```toml/ {inb = 1; next} inb && /```/ {exit} inb' "$REPO/README.md" \
    | sed 's/^  //'
}

# pause_image OUT.tar — the busybox image's layer under a config whose command sleeps forever,
# named $PAUSE_IMAGE: a sandbox image with no registry
pause_image() {
  local out=$1 L="$IMAGE_DIR/oci-layout" tmp cfg man layer lsize h
  tmp=$(mktemp -d "$T/pause.XXXXXX")
  mkdir -p "$tmp/blobs/sha256"
  man=$(jq -r '.manifests[0].digest' "$L/index.json" | cut -d: -f2)
  layer=$(jq -r '.layers[0].digest' "$L/blobs/sha256/$man")
  lsize=$(jq -r '.layers[0].size' "$L/blobs/sha256/$man")
  cp "$L/blobs/sha256/${layer#sha256:}" "$tmp/blobs/sha256/"
  jq -c '.config = {Env: ["PATH=/bin"], Entrypoint: ["/bin/sleep", "infinity"], WorkingDir: "/"}
         | .history = [{created: "1970-01-01T00:00:00Z", created_by: "tests/cri/lib.sh pause_image"}]' \
    "$L/blobs/sha256/$(jq -r '.config.digest' "$L/blobs/sha256/$man" | cut -d: -f2)" > "$tmp/config.json"
  cfg=$(sha256sum "$tmp/config.json" | cut -d' ' -f1); mv "$tmp/config.json" "$tmp/blobs/sha256/$cfg"
  jq -cn --arg c "sha256:$cfg" --argjson cs "$(stat -c %s "$tmp/blobs/sha256/$cfg")" --arg l "$layer" --argjson ls "$lsize" '{
    schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $c, size: $cs},
    layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $l, size: $ls}]}' > "$tmp/manifest.json"
  h=$(sha256sum "$tmp/manifest.json" | cut -d' ' -f1); mv "$tmp/manifest.json" "$tmp/blobs/sha256/$h"
  jq -cn --arg m "sha256:$h" --argjson ms "$(stat -c %s "$tmp/blobs/sha256/$h")" --arg name "$PAUSE_IMAGE" '{
    schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $m, size: $ms,
                 platform: {architecture: "amd64", os: "linux"},
                 annotations: {"org.opencontainers.image.ref.name": "vessel", "io.containerd.image.name": $name}}]}' > "$tmp/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' > "$tmp/oci-layout"
  tar -C "$tmp" -cf "$out" oci-layout index.json blobs && rm -rf "$tmp"
}

cri_start() {
  ensure_image || { echo "cri_start: image build failed" >&2; return 1; }
  mkdir -p "$CRI_DIR"/{root,state,opt,cni-bin,cni-conf,cni-ipam,logs}
  local p
  for p in bridge host-local loopback; do
    [ -x "/usr/lib/cni/$p" ] || { echo "cri_start: /usr/lib/cni/$p missing (apt-get install containernetworking-plugins)" >&2; return 1; }
    ln -sfn "/usr/lib/cni/$p" "$CRI_DIR/cni-bin/$p"
  done
  [ -e /run/containerd ] || : > "$T/.cri-made-run-containerd"
  [ -e /var/lib/cni ] || : > "$T/.cri-made-var-lib-cni"
  host_sysctls > "$T/.cri-sysctls"
  # (before containerd starts, for its environment; private_daemon's own hook, which stops the
  # daemon, is registered after cri_stop's, which removes the pods through it)
  export VESSEL_SOCKET=$T/vessel/vesseld.sock VESSEL_CONFIG=$T/config.toml
  [ -e "$VESSEL_CONFIG" ] || : > "$VESSEL_CONFIG"
  on_cleanup cri_stop
  private_daemon
  cat > "$CRI_DIR/cni-conf/10-vessel-cri.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "vessel-cri", "plugins": [
  {"type": "bridge", "bridge": "$CRI_BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$CRI_DIR/cni-ipam",
            "ranges": [[{"subnet": "$CRI_SUBNET"}]], "routes": [{"dst": "0.0.0.0/0"}]}}]}
EOF
  local vdir; vdir=$(dirname "$VESSEL")
  {
    cat <<EOF
version = 2
root = "$CRI_DIR/root"
state = "$CRI_DIR/state"

[grpc]
  address = "$CRI_SOCK"

[ttrpc]
  address = "$CRI_SOCK.ttrpc"

[debug]
  address = "$CRI_DIR/debug.sock"
  level = "info"

[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "$CRI_DIR/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  stats_collect_period = 1

[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "$CRI_DIR/cni-bin"
  conf_dir = "$CRI_DIR/cni-conf"

# ---- README.md's block (cri-runtimes), as it stands but for the binaries' directory
EOF
    readme_cri_runtimes | sed "s#\"/usr/local/bin/#\"$vdir/#"
    # ---- Vessel's own shim (docs/kubernetes.md, "Vessel's own shim"): opt-in, not in README's block
    cat <<EOF

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.vessel-microvm-shim]
  runtime_type = "io.containerd.vessel.v2"
  pod_annotations = ["dev.vessel.*"]
  container_annotations = ["dev.vessel.*"]
EOF
  } > "$CRI_DIR/config.toml"
  # containerd finds containerd-shim-vessel-v2 in its PATH; the shim runs this build's vessel-microvm
  PATH="$vdir:$PATH" VESSEL_SHIM_RUNTIME="$vdir/vessel-microvm" \
    containerd --config "$CRI_DIR/config.toml" >"$CRI_DIR/containerd.log" 2>&1 </dev/null &
  CRI_PID=$!
  local i
  for i in $(seq 1 150); do
    if [ -S "$CRI_SOCK" ] && ctr --address "$CRI_SOCK" version >/dev/null 2>&1; then break; fi
    kill -0 "$CRI_PID" 2>/dev/null || break
    sleep 0.1
  done
  if ! ctr --address "$CRI_SOCK" version >/dev/null 2>&1; then
    echo "cri_start: containerd did not come up; log:" >&2; tail -n 20 "$CRI_DIR/containerd.log" >&2; return 1
  fi
  pause_image "$CRI_DIR/pause.oci.tar" || { echo "cri_start: pause image not built" >&2; return 1; }
  local img
  for img in "$IMAGE_DIR/busybox.oci.tar" "$CRI_DIR/pause.oci.tar"; do
    timeout 120 ctr --address "$CRI_SOCK" -n k8s.io images import "$img" >/dev/null 2>"$CRI_DIR/import.err" \
      || { echo "cri_start: import of $img failed: $(cat "$CRI_DIR/import.err")" >&2; return 1; }
  done
}

# cri_plugin_error — why the CRI plugin did not load, from containerd's log ("" when it did)
cri_plugin_error() {
  grep -E 'failed to load plugin io.containerd.grpc.v1.cri|load plugin .*grpc.v1.cri.*error' "$CRI_DIR/containerd.log" | head -1
}

cri_pod_cgroup() {
  local uid=$1 mem=$2 h parent=/kubepods/burstable/pod$1 d
  for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/unified/; do
    [ -f "$h/cgroup.procs" ] || continue
    for d in kubepods kubepods/burstable "kubepods/burstable/pod$uid"; do
      [ -d "$h/$d" ] && continue
      mkdir "$h/$d" && echo "$h/$d" >> "$T/.cri-cgroups"
      # cpuset: a new v1 cgroup starts empty; the kubelet copies its parent's
      if [ -f "$h/$d/cpuset.cpus" ] && [ -z "$(cat "$h/$d/cpuset.cpus")" ]; then
        cat "$(dirname "$h/$d")/cpuset.cpus" > "$h/$d/cpuset.cpus"
        cat "$(dirname "$h/$d")/cpuset.mems" > "$h/$d/cpuset.mems"
      fi
    done
  done
  if [ -f /sys/fs/cgroup/memory/cgroup.procs ]; then
    echo "$mem" > "/sys/fs/cgroup/memory$parent/memory.limit_in_bytes"
  elif [ -f "/sys/fs/cgroup$parent/memory.max" ]; then
    echo "$mem" > "/sys/fs/cgroup$parent/memory.max"
  fi
  echo "$parent"
}

# cri_force_remove POD — a pod that StopPodSandbox / RemovePodSandbox could not remove (a runtime
# that failed it), removed all the same: its containers and sandbox deleted by the runtime itself
# (`delete --force`, through Vessel's own binary or runc, whichever holds the id), the pod removed
# through CRI again, and its network namespace (which containerd removes only once the sandbox
# stopped) unmounted
cri_force_remove() {
  local pod=$1 id ns ids
  ids=$(cri call ListContainers "{\"filter\": {\"pod_sandbox_id\": \"$pod\"}}" 2>/dev/null | jq -r '.containers[]?.id')
  ns=$(cri call PodSandboxStatus "{\"pod_sandbox_id\": \"$pod\", \"verbose\": true}" 2>/dev/null \
         | jq -r '.info.info // "{}"' 2>/dev/null | jq -r '.runtimeSpec.linux.namespaces[]? | select(.type == "network") | .path // empty' 2>/dev/null)
  for id in $ids "$pod"; do
    timeout 60 "$(dirname "$VESSEL")/vessel-microvm" --root /run/containerd/runc/k8s.io delete -f "$id" >/dev/null 2>&1
    timeout 60 "$(dirname "$VESSEL")/vessel-microvm" --root /run/containerd/vessel/k8s.io delete -f "$id" >/dev/null 2>&1
    timeout 60 runc --root /run/containerd/runc/k8s.io delete -f "$id" >/dev/null 2>&1
  done
  timeout 60 "$CRI_PY" "$REPO/tests/cri/cri.py" -s "$CRI_SOCK" --timeout 50 poddown "$pod" >/dev/null 2>&1
  [ -n "$ns" ] && [ -e "$ns" ] && { umount "$ns" 2>/dev/null; rm -f "$ns"; }
  return 0
}

# cri_down POD… — each pod stopped and removed through CRI, as the kubelet does; a pod that would
# not go is force-removed (cri_force_remove). Returns non-zero when some pod needed that.
cri_down() {
  local pod rc=0
  for pod in "$@"; do
    timeout 150 "$CRI_PY" "$REPO/tests/cri/cri.py" -s "$CRI_SOCK" --timeout 60 poddown "$pod" >/dev/null 2>&1 && continue
    rc=1
    cri_force_remove "$pod"
  done
  return "$rc"
}

# cri_remove_all — every pod of our containerd removed
cri_remove_all() {
  cri_down $(cri call ListPodSandbox '{}' 2>/dev/null | jq -r '.items[]?.id')
}

# _cri_sweep — after containerd: whatever its runtimes still hold of it (bundles under $CRI_DIR),
# the network namespaces with an address of our subnet, CNI's cached results for our network
_cri_sweep() {
  local R=/run/containerd/runc/k8s.io id ns f
  for id in $("$VESSEL" --root "$R" list --format json 2>/dev/null | jq -r --arg d "$CRI_DIR/" '.[]? | select(.bundle | startswith($d)) | .id'); do
    timeout 60 "$VESSEL" --root "$R" delete -f "$id" >/dev/null 2>&1
  done
  for id in $(runc --root "$R" list -f json 2>/dev/null | jq -r --arg d "$CRI_DIR/" '.[]? | select(.bundle | startswith($d)) | .id'); do
    timeout 60 runc --root "$R" delete -f "$id" >/dev/null 2>&1
  done
  for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^cni-/ {print $1}'); do
    ip -n "$ns" -4 -br addr show 2>/dev/null | grep -q " ${CRI_SUBNET%.*/*}\." && ip netns del "$ns" 2>/dev/null
  done
  for f in /var/lib/cni/results/vessel-cri-*; do
    [ -e "$f" ] || continue
    id=$(basename "$f" | sed -E 's/^vessel-cri-([0-9a-f]+)-.*/\1/')
    rm -f "$f" "/var/lib/cni/results/cni-loopback-$id-lo"
  done
}

cri_stop() {
  [ -n "${CRI_PID:-}" ] || return 0
  if kill -0 "$CRI_PID" 2>/dev/null; then
    cri_remove_all
    kill -TERM "$CRI_PID" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$CRI_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$CRI_PID" 2>/dev/null
  fi
  wait "$CRI_PID" 2>/dev/null
  local p
  for p in $(pids_matching "$CRI_SOCK"); do kill -KILL "$p" 2>/dev/null; done
  _cri_sweep
  ip link del "$CRI_BRIDGE" 2>/dev/null
  host_sysctls_restore "$T/.cri-sysctls"
  # Vessel's own shim's --root for k8s.io (only when empty: another containerd's pods may be there)
  rmdir /run/containerd/vessel/k8s.io /run/containerd/vessel 2>/dev/null
  # the pod cgroups we made, deepest first (only when empty)
  [ -f "$T/.cri-cgroups" ] && sort -r "$T/.cri-cgroups" | while read -r d; do rmdir "$d" 2>/dev/null; done
  if [ -e "$T/.cri-made-var-lib-cni" ] && [ -d /var/lib/cni ] && [ -z "$(find /var/lib/cni -type f 2>/dev/null)" ]; then
    rm -rf /var/lib/cni
  fi
  [ -e "$T/.cri-made-run-containerd" ] && ! pgrep -x containerd >/dev/null && rm -rf /run/containerd
  CRI_PID=
}
