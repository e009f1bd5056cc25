"""Where a command's CPU goes, by kind of process: the test suite's service processes, CLI
processes, mail readers, Chromium, PostgreSQL and the pytest workers themselves.

    python bench/suite_cpu.py [--every 0.1] -- .venv/bin/python -m pytest -q

Every process on the machine is read from /proc every `--every` seconds while the command runs;
a process started during the command counts with all the CPU of its last reading (its start
included), one already running with what it used since. A process that lived shorter than one
interval is missed, and one that ended between readings loses its last part: the total of the
command's own processes (getrusage, which sees them all once reaped, but not daemons such as
PostgreSQL's servers) is printed beside the sum. The sampling itself costs about a tenth of a
core and is not counted.
"""

import argparse
import collections
import os
import re
import resource
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")

KINDS = [  # (kind, pattern in the command line), first match wins
    ("pytest worker", r"-u -c|execnet|xdist|-m pytest"),
    ("Chromium", r"chrom"),
    ("Playwright's node driver", r"node"),
    ("PostgreSQL", r"^postgres|/postgres |initdb|pg_ctl"),
    ("Dovecot", r"dovecot|imap-login|\banvil\b"),
    ("mail reader and other spawned children", r"spawn_main|multiprocessing"),
    ("[http] worker started again", r"handlers\.worker"),  # forked ones keep run.py's command line
    ("schemathesis", r"/st run"),
    ("service process", r"run\.py|suppression serve"),
    ("CLI process", r"-m suppression|/suppression "),
]


def kind_of(command: str) -> str:
    for kind, pattern in KINDS:
        if re.search(pattern, command):
            return kind
    return "other: " + (command.split() or ["?"])[0][:40]


def read_all(first: dict, last: dict, commands: dict) -> None:
    me = str(os.getpid())
    for name in os.listdir("/proc"):
        if not name.isdigit() or name == me:
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                stat = fh.read()
            fields = stat[stat.rfind(")") + 2:].split()
            cpu = (int(fields[11]) + int(fields[12])) / TICK
            key = (int(name), fields[19])  # pid and start time: a pid used again is another process
            if key not in first:
                with open(f"/proc/{name}/cmdline", "rb") as fh:
                    command = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
                commands[key] = command or stat[stat.find("(") + 1:stat.rfind(")")]
                first[key] = cpu
            last[key] = cpu
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue  # ended while being read


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--every", type=float, default=0.1)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    first: dict = {}
    last: dict = {}
    commands: dict = {}
    read_all(first, last, commands)
    before = set(first)  # processes already running: counted from now on
    started = time.monotonic()
    process = subprocess.Popen(command)
    while process.poll() is None:
        read_all(first, last, commands)
        time.sleep(args.every)
    wall = time.monotonic() - started
    by_kind: collections.Counter = collections.Counter()
    count: collections.Counter = collections.Counter()
    for key, cpu in last.items():
        used = cpu - first[key] if key in before else cpu
        if used <= 0:
            continue
        kind = kind_of(commands[key])
        by_kind[kind] += used
        count[kind] += 1
    print(f"\n{wall:.1f} s of wall time; CPU seconds by kind of process (processes):", file=sys.stderr)
    for kind, used in by_kind.most_common(20):
        print(f"{used:8.1f}  {kind} ({count[kind]})", file=sys.stderr)
    print(f"{sum(by_kind.values()):8.1f}  in all", file=sys.stderr)
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"{reaped.ru_utime + reaped.ru_stime:8.1f}  the command's own processes, reaped (getrusage)", file=sys.stderr)
    return process.returncode


if __name__ == "__main__":
    sys.exit(main())
