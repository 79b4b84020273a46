#!/usr/bin/python3
"""pty.py [--input TEXT] [--delay SECS] CMD... — run CMD on a new pseudo-terminal.

CMD gets the pty as its controlling terminal and as stdin/stdout/stderr. TEXT
(backslash escapes such as \\n are interpreted) is typed into the terminal after
DELAY seconds (default 0.5). Everything CMD writes to the terminal is copied to
stdout with CRs removed. Exits with CMD's exit status (128+N if killed by signal N).
"""
import fcntl, os, select, signal, sys, termios, time


def main():
    args = sys.argv[1:]
    text, delay = None, 0.5
    while args and args[0].startswith("--"):
        if args[0] == "--input":
            text = args[1].encode().decode("unicode_escape").encode(); args = args[2:]
        elif args[0] == "--delay":
            delay = float(args[1]); args = args[2:]
        elif args[0] == "--":
            args = args[1:]; break
        else:
            sys.exit("pty.py: unknown option " + args[0])
    if not args:
        sys.exit(__doc__)
    master, slave = os.openpty()
    pid = os.fork()
    if pid == 0:
        os.close(master)
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        for fd in (0, 1, 2):
            os.dup2(slave, fd)
        if slave > 2:
            os.close(slave)
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        try:
            os.execvp(args[0], args)
        except OSError as e:
            os.write(2, ("pty.py: %s: %s\n" % (args[0], e.strerror)).encode())
            os._exit(127)
    os.close(slave)
    start = time.monotonic()
    pending = text
    out = sys.stdout.buffer
    status = None
    while True:
        timeout = 0.1
        if pending is not None and time.monotonic() - start >= delay:
            try:
                os.write(master, pending)
            except OSError:
                pass
            pending = None
        try:
            r, _, _ = select.select([master], [], [], timeout)
        except InterruptedError:
            r = []
        if r:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every holder of the slave side has closed it
                data = b""
            if not data:
                break
            out.write(data.replace(b"\r", b""))
            out.flush()
        if status is None:
            wpid, st = os.waitpid(pid, os.WNOHANG)
            if wpid == pid:
                status = st
                # drain what is left, then stop (daemonized children may hold the pty)
                end = time.monotonic() + 1.0
                while time.monotonic() < end:
                    r, _, _ = select.select([master], [], [], 0.1)
                    if not r:
                        break
                    try:
                        data = os.read(master, 65536)
                    except OSError:
                        data = b""
                    if not data:
                        break
                    out.write(data.replace(b"\r", b""))
                out.flush()
                break
    if status is None:
        _, status = os.waitpid(pid, 0)
    os.close(master)
    if os.WIFEXITED(status):
        sys.exit(os.WEXITSTATUS(status))
    sys.exit(128 + os.WTERMSIG(status))


if __name__ == "__main__":
    main()
