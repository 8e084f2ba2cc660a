"""A throwaway sshd on 127.0.0.1-3 for trying `ray up` on one machine.

Ray's on-prem `local` provider reaches every node over SSH, so three loopback
addresses served by one sshd look like a head and two worker machines to
`ray up docker/cluster.loopback.yaml`. Everything lives in one directory (default
/tmp/mtrl-loopback): a fresh client key, the host key, the sshd config, its log and
pid, the Ray auth token the cluster uses, and `bin/python`, `bin/ray`: the
interpreter that ran `start` (a virtualenv's too), which the nodes run. `stop`
removes every trace.

    sudo python docker/loopback_sshd.py start     # as root: sshd must bind port 22
    sudo python docker/loopback_sshd.py stop

Needs Debian's openssh-server (`apt-get install openssh-server rsync`); it does not
touch the system's own sshd, its config or ~/.ssh. Port 22 because Ray's SSH runner
has no port option; an sshd already listening on 0.0.0.0:22 conflicts (stop it, or
authorize the key with it instead).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ADDRESSES = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
PORT = 22
DEFAULT_DIR = Path("/tmp/mtrl-loopback")
SSHD = "/usr/sbin/sshd"
# sshd refuses to start without its privilege-separation directory, which Debian
# creates at boot (systemd-tmpfiles); containers often lack it.
PRIVSEP_DIR = Path("/run/sshd")


def _config(d: Path) -> str:
    listen = "\n".join(f"ListenAddress {a}:{PORT}" for a in ADDRESSES)
    return f"""# Written by docker/loopback_sshd.py; removed by `stop`.
{listen}
HostKey {d}/ssh_host_ed25519_key
PidFile {d}/sshd.pid
AuthorizedKeysFile {d}/authorized_keys
# The key file lives under /tmp (world-writable), which StrictModes would reject.
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
X11Forwarding no
PrintMotd no
# Ray runs many short commands over multiplexed connections while nodes start.
MaxSessions 50
MaxStartups 50:30:100
"""


def _reachable(address: str) -> bool:
    try:
        with socket.create_connection((address, PORT), timeout=1):
            return True
    except OSError:
        return False


def start(d: Path) -> None:
    """Creates keys, token and config in `d` and starts sshd (returns once it listens)."""
    if not Path(SSHD).exists():
        sys.exit(f"{SSHD} not found: apt-get install openssh-server rsync")
    if (d / "sshd.pid").exists():
        sys.exit(f"already running ({d}/sshd.pid); stop it first")
    busy = [a for a in ADDRESSES if _reachable(a)]
    if busy:
        sys.exit(f"port {PORT} already serves {', '.join(busy)}: stop that sshd first")
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    keygen = ["ssh-keygen", "-q", "-t", "ed25519", "-N", ""]
    subprocess.run([*keygen, "-f", str(d / "id_ed25519"), "-C", "mtrl-loopback"], check=True)
    subprocess.run([*keygen, "-f", str(d / "ssh_host_ed25519_key")], check=True)
    shutil.copy(d / "id_ed25519.pub", d / "authorized_keys")
    # The cluster's Ray auth token (RAY_AUTH_TOKEN_PATH in the cluster config), so
    # ~/.ray/auth_token is neither needed nor written.
    (d / "auth_token").write_text(secrets.token_hex(32))
    (d / "auth_token").chmod(0o600)
    (d / "sshd_config").write_text(_config(d))
    _write_interpreter(d / "bin")
    if not PRIVSEP_DIR.exists():
        PRIVSEP_DIR.mkdir(mode=0o755)
        (d / "created_privsep_dir").touch()
    # sshd daemonizes itself; -E keeps its log with the rest.
    subprocess.run([SSHD, "-f", str(d / "sshd_config"), "-E", str(d / "sshd.log")], check=True)
    deadline = time.monotonic() + 10
    while not all(_reachable(a) for a in ADDRESSES):
        if time.monotonic() > deadline:
            sys.exit(f"sshd did not come up; see {d}/sshd.log")
        time.sleep(0.1)
    print(f"sshd on {', '.join(ADDRESSES)}:{PORT}; key {d}/id_ed25519")


def _write_interpreter(bin_dir: Path) -> None:
    """`bin_dir/python` and `bin_dir/ray`: this interpreter, and Ray's CLI run by it.

    The cluster config's setup and `ray start` commands call these, so every node
    runs the Python (and so the Ray and mtrl_ray) that started the cluster, a
    virtualenv's included: SSH sessions get a login shell whose PATH is the
    system's, not the caller's.
    """
    bin_dir.mkdir(mode=0o700, exist_ok=True)
    scripts = {
        "python": f'exec {sys.executable} "$@"\n',
        "ray": f'exec {sys.executable} -m ray.scripts.scripts "$@"\n',
    }
    for name, line in scripts.items():
        (bin_dir / name).write_text("#!/bin/sh\n" + line)
        (bin_dir / name).chmod(0o700)


def stop(d: Path) -> None:
    """Stops the sshd started by `start` and removes `d` (safe to call twice)."""
    pid_file = d / "sshd.pid"
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
        except (ProcessLookupError, ValueError):
            pass
    if (d / "created_privsep_dir").exists():
        shutil.rmtree(PRIVSEP_DIR, ignore_errors=True)
    shutil.rmtree(d, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="state directory")
    args = parser.parse_args(argv)
    (start if args.action == "start" else stop)(args.dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
