#!/usr/bin/env bash
# images/busybox.sh OUTDIR
#
# Builds, without any registry, a tiny busybox image from the host's static busybox:
#   OUTDIR/rootfs/           busybox + a symlink per applet, /etc/passwd, /etc/group, /www/index.html
#   OUTDIR/busybox.oci.tar   OCI image-layout archive, loadable by `podman load -i` and
#                            `ctr images import` as localhost/bb:latest
#   OUTDIR/bundle/           OCI runtime bundle (rootfs copy + config.json from `crun spec`,
#                            terminal false, args sh -c 'echo hello')
# Rebuilds only when /bin/busybox or this script is newer than the output.
set -euo pipefail

OUT=${1:?usage: $0 OUTDIR}
BUSYBOX=${BUSYBOX:-/bin/busybox}
IMAGE_NAME=${IMAGE_NAME:-localhost/bb:latest}
SELF=$(readlink -f "${BASH_SOURCE[0]}")

die() { echo "busybox.sh: $*" >&2; exit 1; }
[ -x "$BUSYBOX" ] || die "$BUSYBOX not found (apt-get install -y busybox-static)"
file_static() { ! LC_ALL=C ldd "$1" >/dev/null 2>&1; }
file_static "$BUSYBOX" || die "$BUSYBOX is dynamically linked (apt-get install -y busybox-static)"
for t in sha256sum tar gzip jq; do command -v "$t" >/dev/null || die "$t is required"; done

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
STAMP=$OUT/.built
if [ -f "$STAMP" ] && [ -f "$OUT/busybox.oci.tar" ] && [ -f "$OUT/bundle/config.json" ] \
   && [ "$STAMP" -nt "$BUSYBOX" ] && [ "$STAMP" -nt "$SELF" ]; then
  exit 0
fi

TMP=$(mktemp -d "$OUT/.tmp.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# ---------------------------------------------------------------- rootfs
R=$TMP/rootfs
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,proc,sys,dev,root,www,var,run,home}
chmod 1777 "$R/tmp"
chmod 0700 "$R/root"
install -m 0755 "$BUSYBOX" "$R/bin/busybox"
if "$BUSYBOX" --list-full >/dev/null 2>&1; then
  while IFS= read -r p; do
    [ -n "$p" ] || continue
    [ "$p" = bin/busybox ] && continue
    mkdir -p "$R/$(dirname "$p")"
    ln -sfn /bin/busybox "$R/$p"
  done < <("$BUSYBOX" --list-full)
fi
# every applet of --list must exist (at least in /bin)
while IFS= read -r a; do
  [ -n "$a" ] || continue
  found=
  for d in bin sbin usr/bin usr/sbin; do
    [ -e "$R/$d/$a" ] || [ -L "$R/$d/$a" ] && { found=1; break; }
  done
  [ -n "$found" ] || ln -sfn /bin/busybox "$R/bin/$a"
done < <("$BUSYBOX" --list)

cat > "$R/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat > "$R/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
nobody:x:65534:
EOF
echo "hello from vessel" > "$R/www/index.html"
: > "$R/etc/hosts"
: > "$R/etc/resolv.conf"
echo vessel-bb > "$R/etc/hostname"

# ---------------------------------------------------------------- OCI layout
L=$TMP/layout
mkdir -p "$L/blobs/sha256"
blob() { # file -> moves to blobs, prints digest hex
  local h; h=$(sha256sum "$1" | cut -d' ' -f1)
  mv "$1" "$L/blobs/sha256/$h"
  echo "$h"
}
size() { stat -c %s "$L/blobs/sha256/$1"; }

tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -C "$R" -cf "$TMP/layer.tar" .
DIFF_ID=$(sha256sum "$TMP/layer.tar" | cut -d' ' -f1)
gzip -n -9 -c "$TMP/layer.tar" > "$TMP/layer.tar.gz"
rm -f "$TMP/layer.tar"
LAYER=$(blob "$TMP/layer.tar.gz")

case "$(uname -m)" in
  x86_64) ARCH=amd64 ;; aarch64) ARCH=arm64 ;; ppc64le) ARCH=ppc64le ;; s390x) ARCH=s390x ;;
  riscv64) ARCH=riscv64 ;; *) ARCH=$(uname -m) ;;
esac

jq -cn --arg arch "$ARCH" --arg diff "sha256:$DIFF_ID" '{
  created: "1970-01-01T00:00:00Z",
  architecture: $arch,
  os: "linux",
  config: {
    Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    Cmd: ["sh"],
    WorkingDir: "/"
  },
  rootfs: { type: "layers", diff_ids: [$diff] },
  history: [ { created: "1970-01-01T00:00:00Z", created_by: "images/busybox.sh" } ]
}' > "$TMP/config.json"
CONFIG=$(blob "$TMP/config.json")

jq -cn --arg c "sha256:$CONFIG" --argjson cs "$(size "$CONFIG")" \
       --arg l "sha256:$LAYER" --argjson ls "$(size "$LAYER")" '{
  schemaVersion: 2,
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: $c, size: $cs },
  layers: [ { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $l, size: $ls } ]
}' > "$TMP/manifest.json"
MANIFEST=$(blob "$TMP/manifest.json")

jq -cn --arg m "sha256:$MANIFEST" --argjson ms "$(size "$MANIFEST")" \
       --arg name "$IMAGE_NAME" --arg arch "$ARCH" '{
  schemaVersion: 2,
  mediaType: "application/vnd.oci.image.index.v1+json",
  manifests: [ {
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    digest: $m, size: $ms,
    platform: { architecture: $arch, os: "linux" },
    annotations: {
      "org.opencontainers.image.ref.name": ($name | sub(".*:"; "")),
      "io.containerd.image.name": $name
    }
  } ]
}' > "$L/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' > "$L/oci-layout"

tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 \
    -C "$L" -cf "$TMP/busybox.oci.tar" oci-layout index.json blobs

# ---------------------------------------------------------------- bundle
B=$TMP/bundle
mkdir -p "$B"
cp -a "$R" "$B/rootfs"
if command -v crun >/dev/null; then
  (cd "$B" && crun spec)
elif command -v runc >/dev/null; then
  (cd "$B" && runc spec)
else
  die "crun or runc is needed for 'spec'"
fi
jq '.process.terminal = false | .process.args = ["sh", "-c", "echo hello"]' \
   "$B/config.json" > "$B/config.json.new"
mv "$B/config.json.new" "$B/config.json"

# ---------------------------------------------------------------- install
rm -rf "$OUT/rootfs" "$OUT/bundle" "$OUT/oci-layout"
mv "$R" "$OUT/rootfs"
mv "$B" "$OUT/bundle"
mv "$L" "$OUT/oci-layout"
mv "$TMP/busybox.oci.tar" "$OUT/busybox.oci.tar"
touch "$STAMP"
echo "busybox image: $OUT/busybox.oci.tar ($IMAGE_NAME), bundle: $OUT/bundle"
