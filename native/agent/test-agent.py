#!/usr/bin/env python3
"""Boot vessel-agent in a QEMU microVM and drive it over its ports, without the rest of Vessel.

  native/agent/test-agent.py [--kernel vmlinux] [--initrd initrd.img | --modules DIR] [--rootfs DIR]

The kernel and initrd default to /var/lib/vessel/assets. With --modules DIR (a tree holding
the Debian kernel's .ko files), a test initrd is made from bin/vessel-agent and the modules
the agent needs, so that an agent change can be tried without `vessel assets build`.
The rootfs (default: a copy of build/images/busybox/rootfs) is shared over 9p.

It checks: READY; CREATE + START (output, exit status, EXIT; process 0 is PID 1 of its own pid
namespace, and an exec while it runs joins it); 9p mount lines (a share, a file in it, ro); an
EXEC on a port hot-plugged over QMP (stdin, C); a relay that connects late (no output lost); a tty (W, I, exit status);
KILL; PS; STATS; TOP; a control-port reconnect (READY again, EXIT repeated); POWEROFF. The QEMU argv is
the one in docs/microvm.md, plus a virtio-net NIC on a tap in a network namespace the test
makes (host side 172.16.9.1/24 and fd00:9::1/64, and 172.16.99.1, fd00:99::1 behind them):
CREATE's net/addr/route lines (pings both ways, IPv4 and IPv6, through the default routes;
the MTU; lo up) and file lines (the guest sees the content, the host's rootfs file is unchanged).
Then two boots from an ext4 image as `vessel vmm` makes them (root=/dev/vda, init=, the kernel's
ip=, the console on ttyS0): the disk's init runs as PID 1 and reaches the host; a missing init
powers the guest off with one line. Exits non-zero on the first failure; --keep keeps the
VM's dir. Needs root (ip netns, tap); takes about 30 s under TCG (three boots).
"""
import argparse, glob, gzip, json, os, queue, re, shutil, signal, socket, struct, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULES = ["virtio_ring", "virtio", "virtio_mmio", "virtio_console", "netfs", "fscache", "9pnet", "9pnet_virtio", "9p",
           "failover", "net_failover", "virtio_net", "virtio_blk", "crc16", "mbcache", "jbd2", "crc32c_generic", "ext4"]
MAC = "52:54:00:09:00:02"
NETNS, TAP = f"vessel-agent-test-{os.getpid()}", "vtap0"


def cpio(entries):
    """newc archive of (name, mode, data, rdev) tuples."""
    out = bytearray()
    for ino, (name, mode, data, rdev) in enumerate(entries + [("TRAILER!!!", 0, b"", (0, 0))], 1):
        n = name.encode() + b"\0"
        hdr = "070701" + "".join("%08x" % v for v in (ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(n), 0))
        out += hdr.encode() + n
        out += b"\0" * (-len(out) % 4) + data
        out += b"\0" * (-len(out) % 4)
    return bytes(out)


def make_initrd(agent, moddir, path):
    entries = [(d, 0o40755, b"", (0, 0)) for d in ("dev", "proc", "sys", "run", "lib", "lib/modules")]
    entries += [("dev/console", 0o20600, b"", (5, 1)), ("init", 0o100755, open(agent, "rb").read(), (0, 0))]
    for m in MODULES:
        ko = glob.glob(f"{moddir}/**/{m}.ko", recursive=True)
        if not ko:
            sys.exit(f"test-agent: no {m}.ko under {moddir}")
        entries.append((f"lib/modules/{m}.ko", 0o100644, open(ko[0], "rb").read(), (0, 0)))
    entries.append(("lib/modules/load-order", 0o100644, "".join(m + ".ko\n" for m in MODULES).encode(), (0, 0)))
    with gzip.open(path, "wb", 1) as f:
        f.write(cpio(entries))


def tsc_khz():
    for line in subprocess.run(["dmesg"], capture_output=True, text=True).stdout.splitlines()[::-1]:
        m = re.search(r"tsc: (?:Refined TSC clocksource calibration|Detected): (\d+)\.(\d+) MHz", line)
        if m:
            return int(m.group(1)) * 1000 + int(m.group(2))
    return int(float(re.search(r"cpu MHz\s*:\s*([\d.]+)", open("/proc/cpuinfo").read()).group(1)) * 1000)


def connect(path, timeout=10):
    end = time.time() + timeout
    while True:
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            return s
        except OSError:
            if time.time() > end:
                raise
            time.sleep(0.05)


def esc(v):
    return v.replace("\\", "\\\\").replace("\n", "\\n")


class Control:
    """The control port: requests answered in order, EXIT lines set aside."""

    def __init__(self, path):
        self.sock, self.lines, self.exits = connect(path), queue.Queue(), {}
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for line in self.sock.makefile("r"):
                line = line.rstrip("\n")
                if line.startswith("EXIT "):
                    _, n, st = line.split()
                    self.exits[int(n)] = int(st)
                else:
                    self.lines.put(line)
        except OSError:
            pass  # closed by us

    def ready(self, timeout=60):
        line = self.lines.get(timeout=timeout)
        assert line == "READY 3", line

    def request(self, *lines):
        self.sock.sendall(("\n".join(lines) + "\nEND\n").encode())
        while True:
            line = self.lines.get(timeout=30)
            if not line.startswith("READY"):  # the agent may repeat it; it is never an answer
                return line

    def await_exit(self, n, timeout=20):
        end = time.time() + timeout
        while n not in self.exits:
            assert time.time() < end, f"no EXIT {n}"
            time.sleep(0.02)
        return self.exits[n]


def process(args, tty=False, env=("PATH=/bin:/sbin:/usr/bin",)):
    return ([f"arg {esc(a)}" for a in args] + [f"env {esc(e)}" for e in env]
            + ["cwd /", "user 0 0"] + (["tty 1"] if tty else []))


class Stream:
    def __init__(self, path):
        self.sock, self.buf = connect(path), b""

    def send(self, t, payload=b""):
        self.sock.sendall(t.encode() + struct.pack("<I", len(payload)) + payload)

    def frames(self, timeout=20):
        """All frames up to and including X: (list of (type, payload), status)."""
        self.sock.settimeout(timeout)
        out = []
        while True:
            while len(self.buf) >= 5 and len(self.buf) >= 5 + struct.unpack("<I", self.buf[1:5])[0]:
                n = struct.unpack("<I", self.buf[1:5])[0]
                t, p, self.buf = chr(self.buf[0]), self.buf[5:5 + n], self.buf[5 + n:]
                if t == "X":
                    return out, struct.unpack("<i", p)[0]
                out.append((t, p))
            data = self.sock.recv(65536)
            assert data, "port closed before X"
            self.buf += data


def joined(frames, t):
    return b"".join(p for k, p in frames if k == t)


class Qmp:
    def __init__(self, path):
        self.sock = connect(path)
        self.f = self.sock.makefile("rw")
        json.loads(self.f.readline())
        self.cmd("qmp_capabilities")

    def cmd(self, command, **args):
        self.f.write(json.dumps({"execute": command, "arguments": args}) + "\n")
        self.f.flush()
        while True:
            r = json.loads(self.f.readline())
            if "return" in r:
                return r["return"]
            if "error" in r:
                raise RuntimeError(f"{command}: {r['error']}")

    def add_port(self, d, n):
        self.cmd("chardev-add", id=f"proc{n}", backend={"type": "socket", "data": {
            "addr": {"type": "unix", "data": {"path": f"{d}/proc-{n}.sock"}}, "server": True, "wait": False}})
        self.cmd("device_add", driver="virtserialport", id=f"proc{n}", chardev=f"proc{n}", name=f"vessel.proc.{n}")


def sh(*cmd, check=True):
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def netns_up():
    """The netns QEMU runs in: a tap for the guest, and addresses the guest reaches through its routes."""
    for cmd in (["ip", "netns", "add", NETNS], ["ip", "-n", NETNS, "link", "set", "lo", "up"],
                ["ip", "-n", NETNS, "tuntap", "add", "dev", TAP, "mode", "tap"],
                ["ip", "-n", NETNS, "addr", "add", "172.16.9.1/24", "dev", TAP],
                ["ip", "-n", NETNS, "addr", "add", "fd00:9::1/64", "dev", TAP, "nodad"],
                ["ip", "-n", NETNS, "addr", "add", "172.16.99.1/32", "dev", "lo"],
                ["ip", "-n", NETNS, "addr", "add", "fd00:99::1/128", "dev", "lo"],
                ["ip", "-n", NETNS, "link", "set", TAP, "up"]):
        sh(*cmd)


def netns_down():
    sh("ip", "-n", NETNS, "link", "del", TAP, check=False)
    sh("ip", "netns", "del", NETNS, check=False)


def in_netns(*cmd):
    return subprocess.run(["ip", "netns", "exec", NETNS, *cmd], capture_output=True, text=True)


NIC = ["-netdev", f"tap,id=net0,ifname={TAP},script=no,downscript=no", "-device", f"virtio-net-device,netdev=net0,mac={MAC}"]


def check(what, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + what + (f": {detail}" if detail and not cond else ""), flush=True)
    if not cond:
        raise SystemExit(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernel", default="/var/lib/vessel/assets/vmlinux")
    ap.add_argument("--initrd", default="/var/lib/vessel/assets/initrd.img")
    ap.add_argument("--modules", help="make a test initrd from bin/vessel-agent and the .ko files under DIR")
    ap.add_argument("--rootfs", default=f"{ROOT}/build/images/busybox/rootfs")
    ap.add_argument("--accel", default="tcg")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up as on a failure

    d = tempfile.mkdtemp(prefix="vessel-agent-test.")
    shutil.copytree(a.rootfs, f"{d}/rootfs", symlinks=True)
    os.makedirs(f"{d}/share")  # a volume: shared over 9p, mounted by its tag
    with open(f"{d}/share/f", "w") as f:
        f.write("from-host\n")
    if a.modules:
        a.initrd = f"{d}/initrd.img"
        make_initrd(f"{ROOT}/bin/vessel-agent", a.modules, a.initrd)
    cpu = "host" if a.accel == "kvm" else "max"
    argv = ["qemu-system-x86_64", "-M", "microvm", "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
            "-sandbox", "on", "-accel", a.accel, "-cpu", cpu, "-m", "256", "-smp", "1",
            "-kernel", a.kernel, "-initrd", a.initrd,
            "-append", f"console=hvc0 quiet panic=-1 tsc_early_khz={tsc_khz()} vessel.rootfs=9p",
            "-device", "virtio-serial-device",
            "-chardev", f"file,id=console,path={d}/console.log", "-device", "virtconsole,chardev=console",
            "-chardev", f"socket,id=agent,path={d}/agent.sock,server=on,wait=off",
            "-device", "virtserialport,chardev=agent,name=vessel.agent",
            "-chardev", f"socket,id=proc0,path={d}/proc-0.sock,server=on,wait=off",
            "-device", "virtserialport,chardev=proc0,name=vessel.proc.0",
            "-fsdev", f"local,id=rootfs,path={d}/rootfs,security_model=passthrough",
            "-device", "virtio-9p-device,fsdev=rootfs,mount_tag=rootfs",
            "-fsdev", f"local,id=vol0,path={d}/share,security_model=passthrough",
            "-device", "virtio-9p-device,fsdev=vol0,mount_tag=vol0",
            "-qmp", f"unix:{d}/qmp.sock,server=on,wait=off", *NIC]
    ok, qemu = False, None
    try:
        netns_up()
        t0 = time.time()
        qemu = subprocess.Popen(["ip", "netns", "exec", NETNS, *argv], stdin=subprocess.DEVNULL)
        ctl = Control(f"{d}/agent.sock")
        ctl.ready()
        check(f"READY after {time.time() - t0:.2f}s", True)
        qmp = Qmp(f"{d}/qmp.sock")

        # a NIC the guest does not have: ERR naming the line, and nothing done (the next CREATE works)
        r = ctl.request("CREATE", "net 52:54:00:99:99:99 1500", "PROCESS 0", *process(["true"]))
        check("CREATE with an unknown NIC fails", r == "ERR net 52:54:00:99:99:99 1500: No such device", r)

        # process 0: its relay connects first, as conmon's would
        hosts = "127.0.0.1 localhost\n172.16.9.2 vm-test\n"
        hosts_before = open(f"{d}/rootfs/etc/hosts", "rb").read()
        p0 = Stream(f"{d}/proc-0.sock")
        r = ctl.request("CREATE", "hostname vm-test",
                        f"route 0.0.0.0/0 172.16.9.1 {MAC}", f"route ::/0 fd00:9::1 {MAC}",  # before their subnets: reordered
                        f"net {MAC} 1400", f"addr {MAC} 172.16.9.2/24", f"addr {MAC} fd00:9::2/64",
                        f"file /etc/hosts|{esc(hosts)}", "file /etc/vessel/new|a\\|b",
                        "mount proc|/proc|proc|nosuid,noexec,nodev",
                        "mount tmpfs|/dev|tmpfs|nosuid,strictatime,mode=755,size=65536k",
                        "mount devpts|/dev/pts|devpts|nosuid,noexec,newinstance,ptmxmode=0666,mode=0620",
                        "mount sysfs|/sys|sysfs|nosuid,noexec,nodev,ro", "mount cgroup|/sys/fs/cgroup|cgroup|ro",
                        "mount vol0|/mnt/vol|9p|ro,nosuid", "mount vol0/f|/etc/vol-file|9p|",
                        "PROCESS 0", *process(["sh", "-c", "echo hi; echo $$; hostname; echo oops >&2; uname -r > /written; read x; echo \"got $x\"; exit 3"]))
        check("CREATE", r == "OK", r)
        r = ctl.request("START 0")
        check("START 0", r.startswith("OK "), r)
        # while process 0 waits for its input: an exec joins its pid and mount namespaces
        qmp.add_port(d, 8)
        p8 = Stream(f"{d}/proc-8.sock")
        r = ctl.request("EXEC 8", *process(["sh", "-c", "cat /proc/1/comm; echo $$; ls -d /proc/[0-9]* | wc -l"]))
        check("EXEC 8 (while process 0 runs)", r.startswith("OK "), r)
        frames, st = p8.frames()
        out = joined(frames, "O").decode().split()
        check("exec: in process 0's pid namespace (/proc/1 is process 0; few processes)",
              len(out) == 3 and out[0] == "sh" and out[1] != "1" and int(out[2]) <= 5, out)
        p0.send("I", b"line\n")
        frames, st = p0.frames()
        out = joined(frames, "O")
        check("process 0 output, as PID 1 of its pid namespace", out == b"hi\n1\nvm-test\ngot line\n", out)
        check("process 0 stderr", joined(frames, "E") == b"oops\n", frames)
        check("process 0 X 3", st == 3, st)
        check("EXIT 0 3", ctl.await_exit(0) == 3, ctl.exits)

        # the network, both ways, and the host files
        r = in_netns("ping", "-c1", "-W3", "172.16.9.2")
        check("the host pings the guest", r.returncode == 0, r.stdout + r.stderr)
        r = in_netns("ping", "-6", "-c1", "-W3", "fd00:9::2")
        check("the host pings the guest over IPv6", r.returncode == 0, r.stdout + r.stderr)
        qmp.add_port(d, 7)
        p7 = Stream(f"{d}/proc-7.sock")
        r = ctl.request("EXEC 7", *process(["sh", "-c", "cat /sys/class/net/eth0/mtu; ip -o addr; ip route; ip -6 route;"
                                            "ping -c1 -W3 127.0.0.1 >/dev/null && echo lo-ok;"
                                            "ping -c1 -W3 172.16.99.1 >/dev/null && echo v4-ok;"
                                            "ping -6 -c1 -W3 fd00:99::1 >/dev/null && echo v6-ok;"
                                            "echo ---; cat /etc/hosts; echo ---; cat /etc/vessel/new; echo ---;"
                                            "cat /mnt/vol/f /etc/vol-file; echo guest > /etc/vol-file;"
                                            "echo x > /mnt/vol/x 2>/dev/null || echo ro-refused"]))
        check("EXEC 7 (network)", r.startswith("OK "), r)
        frames, st = p7.frames(timeout=30)
        out = joined(frames, "O").decode()
        check("the NIC has the MTU", out.startswith("1400\n"), out)
        check("the NIC has its addresses", "inet 172.16.9.2/24" in out and "inet6 fd00:9::2/64" in out, out)
        check("the default routes", "default via 172.16.9.1 dev eth0" in out and "default via fd00:9::1 dev eth0" in out, out)
        check("lo is up", "lo-ok" in out, out)
        check("the guest reaches the host through its default route", "v4-ok" in out, out)
        check("… and over IPv6", "v6-ok" in out, out)
        check("the guest's /etc/hosts is the file line's", out.split("---\n")[1] == hosts, out)
        check("a file line with a | in it", out.split("---\n")[2] == "a|b", out)
        check("9p mount lines: a share and a file in it", out.split("---\n")[3] == "from-host\nfrom-host\nro-refused\n", out)
        check("9p: the guest's write to the file is the host's", open(f"{d}/share/f").read() == "guest\n")
        check("9p: ro refused the write", not os.path.exists(f"{d}/share/x"))
        check("the host's rootfs /etc/hosts is unchanged", open(f"{d}/rootfs/etc/hosts", "rb").read() == hosts_before)
        check("a missing destination is created empty", os.path.getsize(f"{d}/rootfs/etc/vessel/new") == 0)

        # exec on a hot-plugged port, stdin closed with C
        qmp.add_port(d, 1)
        p1 = Stream(f"{d}/proc-1.sock")
        r = ctl.request("EXEC 1", *process(["cat"]))
        check("EXEC 1", r.startswith("OK "), r)
        p1.send("I", b"abc\n")
        p1.send("C")
        frames, st = p1.frames()
        check("exec stdin → stdout, X 0", joined(frames, "O") == b"abc\n" and st == 0, (frames, st))
        check("EXIT 1 0", ctl.await_exit(1) == 0)

        # the relay connects after the process has written and exited: nothing lost
        qmp.add_port(d, 2)
        r = ctl.request("EXEC 2", *process(["sh", "-c", "seq 1 20000; echo done"]))
        check("EXEC 2", r.startswith("OK "), r)
        time.sleep(1.5)
        check("no EXIT before the relay read the output", 2 not in ctl.exits, ctl.exits)
        p2 = Stream(f"{d}/proc-2.sock")
        frames, st = p2.frames()
        out = joined(frames, "O")
        want = "".join(f"{i}\n" for i in range(1, 20001)).encode() + b"done\n"
        check(f"late relay gets all {len(want)} bytes", out == want and st == 0, (len(out), st))

        # a tty: size from W, input from I, exit status through the shell
        qmp.add_port(d, 3)
        p3 = Stream(f"{d}/proc-3.sock")
        p3.send("W", struct.pack("<HH", 30, 100))
        r = ctl.request("EXEC 3", *process(["sh"], tty=True, env=("PATH=/bin", "TERM=xterm")))
        check("EXEC 3 (tty)", r.startswith("OK "), r)
        p3.send("W", struct.pack("<HH", 31, 101))
        p3.send("I", b"stty size; tty; exit 7\n")
        frames, st = p3.frames()
        out = joined(frames, "O")
        check("tty size and pts", b"31 101" in out and b"/dev/pts/" in out, out)
        check("tty X 7", st == 7, st)

        # KILL, and PS
        qmp.add_port(d, 4)
        p4 = Stream(f"{d}/proc-4.sock")
        r = ctl.request("EXEC 4", *process(["sleep", "100"]))
        pid = int(r.split()[1])
        r = ctl.request("PS")
        check("PS lists the sleeper", r.startswith("OK") and str(pid) in r.split(), r)
        r = ctl.request("STATS")
        kv = dict(w.split("=", 1) for w in r.split()[1:] if "=" in w)
        check("STATS: memory, CPU time and pids of the guest",
              r.startswith("OK ") and int(kv.get("mem_total", 0)) > int(kv.get("mem_available", 0)) > 0
              and int(kv.get("cpu_system_ns", 0)) > 0 and int(kv.get("pids", 0)) >= 1, r)
        r = ctl.request("TOP")
        check("TOP lists the sleeper with its command line", r.startswith("OK ") and f"{pid} " in r and "sleep 100" in r, r)
        r = ctl.request("KILL 4 15")
        check("KILL 4 15", r == "OK", r)
        frames, st = p4.frames()
        check("killed: X 143", st == 143 and ctl.await_exit(4) == 143, (st, ctl.exits))
        r = ctl.request("KILL 9 15")
        check("KILL of an unknown process fails", r.startswith("ERR"), r)
        r = ctl.request("EXEC 5", *process(["true"]))
        check("EXEC without its port fails in time", r.startswith("ERR"), r)
        qmp.add_port(d, 6)
        p6 = Stream(f"{d}/proc-6.sock")
        r = ctl.request("EXEC 6", *process(["/nonexistent"]))
        check("EXEC of a missing program fails", r.startswith("ERR") and "nonexistent" in r, r)

        # the daemon goes away and comes back: READY again, the exits repeated
        ctl.sock.shutdown(socket.SHUT_RDWR)  # makefile() keeps the fd open past close()
        ctl.sock.close()
        time.sleep(0.3)
        ctl = Control(f"{d}/agent.sock")
        ctl.ready(timeout=10)
        r = ctl.request("PS")
        check("reconnect: READY, then answers", r.startswith("OK"), r)
        check("reconnect: EXIT repeated", ctl.await_exit(0, 5) == 3)

        written = open(f"{d}/rootfs/written").read().strip()
        check("a file the guest wrote is on the host", written and written != os.uname().release, written)
        r = ctl.request("POWEROFF")
        check("POWEROFF", r == "OK", r)
        qemu.wait(timeout=20)
        check("QEMU exited", qemu.returncode == 0, qemu.returncode)

        qemu = disk_boots(a, d, argv)
        ok = True
    finally:
        if qemu and qemu.poll() is None:
            qemu.kill()
            qemu.wait()
        netns_down()
        for log in ("console.log", "serial.log"):
            if not ok and os.path.exists(f"{d}/{log}"):
                print(f"--- {log}\n" + open(f"{d}/{log}", errors="replace").read()[-3000:])
        if a.keep or not ok:
            print(f"kept {d}")
        else:
            shutil.rmtree(d)


def disk_boots(a, d, argv9p):
    """A Firecracker-style guest: an ext4 root drive whose own init the agent switches to."""
    root = f"{d}/disk-root"
    shutil.copytree(a.rootfs, root, symlinks=True)
    with open(f"{root}/init-test", "w") as f:
        f.write("#!/bin/sh\n"
                "echo \"disk-init pid=$$ $(cat /proc/cmdline)\"\n"
                "ip -o addr; ip route; hostname\n"
                "ping -c1 -W3 172.16.9.1 >/dev/null && echo ping-ok\n"
                "echo written > /written; sync\n"
                "poweroff -f\n")
    os.chmod(f"{root}/init-test", 0o755)
    img = f"{d}/disk.img"
    sh("mkfs.ext4", "-q", "-d", root, img, "64M")
    common = argv9p[:argv9p.index("-append")]  # the machine, kernel and initrd
    ip = "ip=172.16.9.2::172.16.9.1:255.255.255.0:vm-disk:eth0:off"

    def boot(init, log):
        cmd = [*common, "-append", f"console=ttyS0 quiet panic=-1 tsc_early_khz={tsc_khz()} root=/dev/vda rw init={init} {ip}",
               "-serial", f"file:{d}/{log}", "-drive", f"file={img},if=none,id=rootfs,format=raw",
               "-device", "virtio-blk-device,drive=rootfs", *NIC]
        t0 = time.time()
        q = subprocess.Popen(["ip", "netns", "exec", NETNS, *cmd], stdin=subprocess.DEVNULL)
        try:
            q.wait(timeout=90)
        except subprocess.TimeoutExpired:
            return q, None, time.time() - t0
        return q, open(f"{d}/{log}", errors="replace").read(), time.time() - t0

    q, out, secs = boot("/init-test", "serial.log")
    check(f"disk boot: QEMU powered off by the disk's init ({secs:.1f}s)", out is not None and q.returncode == 0, out)
    check("disk boot: the disk's init is PID 1", "disk-init pid=1 " in out, out)
    check("disk boot: ip= gave eth0 its address and default route",
          "inet 172.16.9.2/24" in out and "default via 172.16.9.1 dev eth0" in out and "\nvm-disk\n" in out, out)
    check("disk boot: the guest reaches the host", "ping-ok" in out, out)
    r = sh("debugfs", "-R", "cat /written", img)
    check("disk boot: the root was mounted rw", r.stdout == "written\n", r.stdout + r.stderr)
    os.rename(f"{d}/serial.log", f"{d}/serial-ok.log")

    q, out, secs = boot("/no-such-init", "serial.log")
    check(f"disk boot without its init: powered off ({secs:.1f}s)", out is not None, "QEMU still running")
    line = "vessel-agent: cannot boot from root=/dev/vda: exec /no-such-init: No such file or directory; powering off"
    check("… saying why, in one line", line in out, out)
    return q


if __name__ == "__main__":
    main()
