"""A worker's cancellation by signal: ``KeyboardInterrupt`` only while user code runs.

``cancel()`` of a running task makes the head send ``CANCEL_SIGNAL``
(SIGUSR1) to the worker. Its handler (:func:`on_cancel`) raises
``KeyboardInterrupt`` only while the user's code runs (``in_user_code > 0``);
anywhere else (reading or writing the pipe to the head) it only sets
``pending_interrupt``, raised once the message is whole::

    SIGUSR1 --> on_cancel: in user code?  yes: raise KeyboardInterrupt now
                                          no:  pending_interrupt = True
                                               --> raised on return to user code
    user_code()          around the task's code: in_user_code += 1
    deferred_cancel()    around a message send: a cancel waits until it is out
    unblocked_signals()  around a nested get/wait: a cancel is raised on return

Signal handlers run in the main thread only, so only its state counts.
``STACK_SIGNAL`` (SIGUSR2) dumps every thread's stack (``minirt stack``).
"""

from __future__ import annotations

import signal
import threading

from . import _context, _debugger

CANCEL_SIGNAL = signal.SIGUSR1   # what the head sends to cancel a running task
STACK_SIGNAL = signal.SIGUSR2    # dump every thread's stack to worker-<id>-<pid>.stack

pending_interrupt = False
in_user_code = 0
cancel_seen = False         # the running task was cancelled (is_canceled())
running_tid = None          # the task (not actor call) whose code runs in the main thread


def on_cancel(signum, frame) -> None:
    global pending_interrupt, cancel_seen
    if in_user_code > 0:
        tid = running_tid
        if tid is not None and not _context.peek().take_cancel(tid, blocking=False):
            return            # a late signal for the task before (see WorkerCore.take_cancel)
        cancel_seen = True
        raise KeyboardInterrupt("task cancelled")
    cancel_seen = True
    pending_interrupt = True


class deferred_cancel:
    """Around a message send: a cancel waits, then is raised once the message is out.

    Signal handlers run in the main thread only, so only its state matters.
    """

    __slots__ = ("_main",)
    _over_errors = False        # raise the cancel even when the block raised

    def __enter__(self):
        global in_user_code
        self._main = in_user_code > 0 and threading.current_thread() is threading.main_thread()
        if self._main:
            in_user_code -= 1

    def __exit__(self, *exc):
        global in_user_code, pending_interrupt
        if self._main:
            in_user_code += 1
            if pending_interrupt and (exc[0] is None or self._over_errors) and cancel_due():
                pending_interrupt = False
                raise KeyboardInterrupt("task cancelled")


class user_code:
    """Around the user's code: a cancel signal raises KeyboardInterrupt inside it.

    ``tid``: the task about to run, whose cancel may have come a moment before
    its code started (while its arguments were read): see ``WorkerCore.take_cancel``.
    """

    __slots__ = ("tid",)

    def __init__(self, tid=None):
        self.tid = tid

    def __enter__(self):
        global in_user_code, pending_interrupt, cancel_seen, running_tid
        early = pending_interrupt
        pending_interrupt = False
        if threading.current_thread() is threading.main_thread():
            cancel_seen = False
            running_tid = self.tid
            if early and self.tid is not None and _context.peek().take_cancel(self.tid):
                cancel_seen = True
                running_tid = None
                raise KeyboardInterrupt("task cancelled")
            in_user_code += 1
            if pending_interrupt and cancel_due():    # a signal came while we looked
                pending_interrupt = False
                in_user_code -= 1
                cancel_seen = True
                running_tid = None
                raise KeyboardInterrupt("task cancelled")

    def __exit__(self, *exc):
        global in_user_code, running_tid
        _debugger.leave_user_code()         # a breakpoint()'s session ends with the task
        if threading.current_thread() is threading.main_thread():
            in_user_code -= 1
            running_tid = None


def cancel_due(locked: bool = False) -> bool:
    """``pending_interrupt`` is set: is that cancel meant for the running task? If not
    (a late signal for the task before it: see ``WorkerCore.take_cancel``), forget it.

    Args:
        locked: the caller holds the worker's pipe-reading lock.
    """
    global pending_interrupt
    tid = running_tid
    if tid is None or _context.peek().take_cancel(tid, blocking=False, locked=locked):
        return True
    pending_interrupt = False
    return False


class unblocked_signals(deferred_cancel):
    """Inside a nested get/wait: defer a cancel, then deliver it on return to user code
    (even if the get/wait raised: the cancel is what the task must see)."""

    __slots__ = ()
    _over_errors = True
