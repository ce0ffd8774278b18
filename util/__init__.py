"""Small helpers shared by the course notebooks.

The notebooks are not run from an installed package: their first code cell does
``import sys; sys.path.append("..")`` so that this folder, one level above
``lessons/`` and ``solutions/``, can be imported as ``util``.

The plotting helpers live in :mod:`util.plots` (imported on demand, so that
``from util import pd`` works without Bokeh installed).
"""

import atexit
import re
import shutil
import subprocess
import sys
import tempfile

__all__ = ["pd", "pnd", "first_line", "scratch_dir", "run_script", "minirt_cli"]


# The number is right-aligned in 7 characters (a space, then 6 for the value), so
# "duration:  4.032" and "duration: 12.345" line up; 100 s and more still keep a space.


def pd(duration, prefix=""):
    """Print a duration in seconds, e.g. ``pd(4.0321, "make")`` prints
    ``make duration:  4.032 seconds``. Returns nothing."""
    print(f"{prefix} duration: {duration:6.3f} seconds")


def pnd(n, duration, prefix=""):
    """Print a number followed by a duration, e.g. ``pnd(35, 2.0114, "fib")``
    prints ``fib n: 35, duration:  2.011 seconds``. Returns nothing."""
    print(f"{prefix} n: {n}, duration: {duration:6.3f} seconds")


def first_line(error):
    """The first line of an error's text, with process ids hidden (they change on every run).

    ``first_line(err)`` turns ``"ZeroDivisionError in average (pid=4321):\n..."`` into
    ``"ZeroDivisionError in average (pid=...):"``, so a lesson's printed output is the
    same from run to run. Returns a string.
    """
    return re.sub(r"pid[ =]\d+", "pid=...", str(error).splitlines()[0] if str(error) else "")


def scratch_dir(prefix="course-"):
    """Make a new temporary folder that is deleted when the notebook's kernel exits.

    The lessons hand such folders to tasks and actors (files that record attempts,
    a trace to open in Perfetto); ``tempfile.mkdtemp`` alone would leave one behind
    on every run. Returns the folder's path (a string).

    >>> import os
    >>> path = scratch_dir("doc-")
    >>> os.path.isdir(path)
    True
    """
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a string; got {prefix!r}")
    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, True)
    return path


_PDB_PROMPT = re.compile(r"\(Pdb[^)\n]*\) ")


def run_script(source, answers=(), timeout=120):
    r"""Run ``source`` as a script of its own, typing ``answers`` at the debugger's prompts.

    The lesson on debugging shows pdb sessions this way: a notebook run from start to
    end has no one to type, so the commands come from a list, fed to the script's
    standard input. pdb does not echo what it reads from a pipe, so each answer is
    written after the ``(Pdb...)`` prompt it went to, as a terminal would show it.
    The script runs with the kernel's own Python, in a temporary folder whose path is
    shown as ``<scratch>``. Returns what it printed (standard output, then standard
    error if any), as a string.

    >>> print(run_script("x = 6 * 7\nbreakpoint()\nprint('done')", ["p x", "c"]).strip())
    > <scratch>/script.py(3)<module>()
    -> print('done')
    (Pdb) p x
    42
    (Pdb) c
    done
    """
    if not isinstance(source, str):
        raise TypeError(f"source must be the script's text (a string); got {type(source).__name__}")
    if isinstance(answers, str) or not all(isinstance(a, str) for a in answers):
        raise TypeError("answers must be a list of strings, one pdb command each, e.g. ['p x', 'c']")
    folder = tempfile.mkdtemp(prefix="run-script-")
    try:
        path = f"{folder}/script.py"
        with open(path, "w") as f:
            f.write(source)
        env = {k: v for k, v in __import__("os").environ.items() if k != "PYTHONBREAKPOINT"}
        run = subprocess.run([sys.executable, path], input="".join(a + "\n" for a in answers),
                             capture_output=True, text=True, timeout=timeout, cwd=folder, env=env)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    typed = iter(answers)
    out = _PDB_PROMPT.sub(lambda m: m.group(0) + next(typed, "") + "\n", run.stdout)
    out = out.replace(folder, "<scratch>")
    if run.stderr.strip():
        out += run.stderr.replace(folder, "<scratch>")
    return out


def minirt_cli(*args, sections=None, timeout=60):
    """Run the ``minirt`` command line (``python -m minirt ARGS``) and return its output.

    The same as typing ``minirt status`` in a terminal, run with the kernel's own
    Python so it works without an activated environment. What changes from run to
    run is left out, so a lesson's saved output stays the same: the header lines
    with the date and uptime (``========``, ``Session:``), and this process's id,
    shown as ``<driver pid>``. ``sections``: keep only the parts whose title (the
    line above a ``----`` rule) is in this list, e.g. ``["Tasks", "Workers"]``.
    Returns a string (what the command printed on standard output, then on standard
    error, if anything).

    >>> print(minirt_cli("status"))  # doctest: +SKIP
    """
    if not all(isinstance(a, str) for a in args):
        raise TypeError(f"the command's arguments must be strings; got {args!r}")
    if sections is not None and (isinstance(sections, str) or not all(isinstance(x, str) for x in sections)):
        raise TypeError("sections must be a list of section titles, e.g. ['Tasks']")
    run = subprocess.run([sys.executable, "-m", "minirt", *args], capture_output=True, text=True,
                         timeout=timeout)
    lines = [line for line in run.stdout.splitlines()
             if not line.startswith(("========", "Session:"))]
    if sections is not None:
        kept, keep = [], False
        for i, line in enumerate(lines):
            if i + 1 < len(lines) and set(lines[i + 1]) == {"-"}:    # a title above its rule
                keep = line.strip() in sections
            if keep:
                kept.append(line)
        lines = kept
    pid = str(__import__("os").getpid())
    lines = _realign([line.replace(pid, "<driver pid>") for line in lines])
    return "\n".join(lines).strip("\n") + "\n" + run.stderr


def _realign(lines):
    """Line up the columns of each table again (a replaced pid changes their widths).

    A table is a run of lines with three or more fields apart by two spaces or more.
    """
    out, table = [], []

    def flush():
        if table:
            rows = [re.split(r" {2,}", line.strip()) for line in table]
            widths = [max(len(r[i]) for r in rows if i < len(r)) for i in range(max(map(len, rows)))]
            out.extend("  ".join(f.ljust(w) for f, w in zip(r, widths)).rstrip() for r in rows)
            table.clear()

    for line in lines:
        if len(re.split(r" {2,}", line.strip())) >= 3 and not line.startswith(" "):
            table.append(line)
        else:
            flush()
            out.append(line)
    flush()
    return out
