"""Peak memory and CPU of one child process, measured so that the figures are the child's own.

Why not `os.wait4` on a child of the benchmark itself: Linux folds the memory image a process
had before `exec` into its peak (`exec_mmap` keeps the old image's high-water mark in the
process's `maxrss`), and a child forked from the benchmark's Python starts with the parent's
image. After a benchmark has built a large list (a million junk names, a 100,000-file
manifest), every child it starts reports at least that parent's size: `/bin/true` started from
a 220 MB Python reports a 220 MB peak. So the child is started by a fresh, small launcher (a
new Python with no site packages, about 10 MB), which waits for it and hands back its rusage
and its wall time (without the launcher's own start-up) on a pipe.

Standard library only.
"""
import os
import subprocess
import sys
from collections import namedtuple

# The launcher: spawns argv (PATH searched, the environment it was given), waits for it, and
# writes "exit-code utime stime maxrss-KiB wall-seconds" to the file descriptor it is told.
_LAUNCHER = """
import os, sys, time
fd, argv = int(sys.argv[1]), sys.argv[2:]
start = time.perf_counter()
pid = os.posix_spawnp(argv[0], argv, os.environ)
_, status, u = os.wait4(pid, 0)
wall = time.perf_counter() - start
os.write(fd, f"{os.waitstatus_to_exitcode(status)} {u.ru_utime} {u.ru_stime} {u.ru_maxrss} {wall}".encode())
"""

Usage = namedtuple("Usage", "ru_utime ru_stime ru_maxrss")
Usage.__doc__ = "The child's rusage fields the benchmarks print (ru_maxrss in KiB, as Linux gives it)."


class Measured:
    """A child process started through the launcher. `popen` is the launcher's Popen (its stdout
    and stderr are the child's); `wait()` returns (exit status, wall seconds, Usage)."""

    def __init__(self, argv, **popen_kwargs):
        read, write = os.pipe()
        self._read = read
        try:
            self.popen = subprocess.Popen(
                [sys.executable, "-S", "-c", _LAUNCHER, str(write), *argv],
                pass_fds=(write,), **popen_kwargs)
        except BaseException:
            os.close(read)
            raise
        finally:
            os.close(write)

    def wait(self):
        self.popen.wait()
        with os.fdopen(self._read, "rb") as f:
            answer = f.read().decode()
        if not answer:
            raise RuntimeError(f"the launcher exited {self.popen.returncode} without an answer")
        rc, utime, stime, maxrss, wall = answer.split()
        return int(rc), float(wall), Usage(float(utime), float(stime), int(maxrss))


def run(argv, **popen_kwargs):
    """Runs argv to its end: (exit status, wall seconds, Usage)."""
    return Measured(argv, **popen_kwargs).wait()
