"""The head's control thread: it watches every worker and handles what arrives.

It waits on every worker's pipe, pidfd and sentinel (``selectors``) and on a
wake-up pipe, and for each event takes the head's lock and updates the parts:
a result goes to the scheduler, a nested request is answered, a death goes to
the pool, the actors and the scheduler. It never blocks on one worker: it reads
what a pipe holds, keeps an incomplete message until the rest arrives
(:class:`~minirt._protocol.MessageReader`, at most 64 KiB per pipe per turn, so a
chatty worker cannot starve the others), and writes what waits for room in a
full pipe when the pipe has room (:class:`~minirt._protocol.Outbox`). What tasks print is formatted under
the lock and written to stdout outside it (``_task_output.py``).

Each kind of message has a ``_msg_<kind>`` method (see ``_protocol.py``); an
unknown kind raises, which marks the runtime broken.
"""

from __future__ import annotations

import os
import selectors
import threading

from . import _nodes, _procs, _protocol
from ._pool import exit_line
from ._task_output import TaskOutput
from ._serial import FILE
from .exceptions import GetTimeoutError

_IDLE_TICK = 0.1           # seconds between control-loop wake-ups when nothing happens


class Control:
    """The control thread of one :class:`~minirt._head.Head` (see the module docstring)."""

    def __init__(self, head):
        self.head = head
        self.output = TaskOutput()     # what tasks print: queued here, written outside
        self.print_logs, self.flush_logs = self.output.print_logs, self.output.flush_logs
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._thread = threading.Thread(target=self._control_loop, name="minirt-control",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Wait for the thread to end (the head is closed and woken already)."""
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(2)

    def close(self) -> None:
        self._sel.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except BlockingIOError:
            pass

    def register_worker(self, w) -> None:
        """Watch a new worker: its pipe, its pidfd (liveness) and its sentinel (exit status)."""
        self.head.janitor.watch(w.pid)
        w.reader = _protocol.MessageReader(w.conn.fileno())
        os.set_blocking(w.conn.fileno(), False)     # the head never blocks on a pipe (Outbox)
        self._sel.register(w.conn.fileno(), selectors.EVENT_READ, ("conn", w))
        try:
            w.pidfd = _procs.open_pidfd(w.pid)
        except ProcessLookupError:        # already gone: the sentinel tells its status
            w.pidfd, w.exited = None, True
        if w.pidfd is not None:
            self._sel.register(w.pidfd, selectors.EVENT_READ, ("exit", w))
        self._sel.register(w.proc.sentinel, selectors.EVENT_READ, ("status", w))

    def watch_writable(self, w, on: bool) -> None:
        """Wait for room in ``w``'s pipe too (``on``), or only for what it sends."""
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if on else 0)
        try:
            self._sel.modify(w.conn.fileno(), events, ("conn", w))
        except (KeyError, ValueError, OSError):
            pass                # not watched any more (it died, or its pipe closed)

    def _unregister_worker(self, w) -> None:
        self.head.outbox.forget(w)
        for fd in (w.conn.fileno(), w.pidfd, w.proc.sentinel):
            if fd is None:
                continue
            try:
                self._sel.unregister(fd)
            except (KeyError, ValueError):
                pass
        if w.pidfd is not None:
            os.close(w.pidfd)
            w.pidfd = None
        try:
            w.conn.close()
        except OSError:
            pass

    def _on_exit_event(self, w) -> None:
        """The worker's pidfd is readable: the process has exited."""
        if w.dead:
            return
        w.exited = True
        try:
            self._sel.unregister(w.pidfd)
        except (KeyError, ValueError):
            pass
        if w.status_gone or _procs.readable(w.proc.sentinel):
            self._on_status_event(w)
        # else: the forkserver reaps it in a moment and its sentinel reports the status

    def _on_status_event(self, w) -> None:
        """The forkserver's sentinel is readable: an exit status, or the forkserver died."""
        if w.dead:
            return
        code = None if w.status_gone else _procs.read_exit_status(w.proc)
        if code is not None:
            self.worker_died(w, code)
            return
        # The forkserver is gone, not (necessarily) the worker: keep watching its pidfd.
        w.status_gone = True
        try:
            self._sel.unregister(w.proc.sentinel)
        except (KeyError, ValueError):
            pass
        if w.exited or w.pidfd is None:
            self.worker_died(w, None)

    def apply_changes(self, changes, worker=None) -> None:
        """Apply a process's reference changes (see _refs.py), noting what a worker holds."""
        table = self.head.table
        for oid, d in changes:
            if worker is not None:
                if d > 0:
                    worker.held.add(oid)
                else:
                    worker.held.discard(oid)
            if d > 0:
                table.incr(oid)
            else:
                table.decr(oid)

    def worker_died(self, worker, code) -> None:
        """The worker's process has exited with status ``code`` (None if unknown)."""
        if worker.dead:
            return
        self._read_rest(worker)
        if worker.dead:
            return
        worker.dead = True
        if self.head.logs is not None:
            self.head.logs.log(exit_line(worker, code))
        self._unregister_worker(worker)
        self.head.pool.forget(worker)
        self.head.janitor.forget(worker.pid)
        _procs.kill_tree(worker.pid)      # what its tasks started in its process group
        _procs.mark_exited(worker.proc, code)     # frees the Process's descriptors
        self.head._event("worker_exit", worker=worker.wid, node=worker.node, exitcode=code)
        for oid in list(worker.held):
            self.head.table.decr(oid)
        worker.held.clear()
        self.head.debug.worker_died(worker)
        if worker.actor is not None:
            self.head.actors_part.worker_died(worker, code)
        self.head.sched.worker_died(worker, code)

    def _control_loop(self) -> None:
        sel = self._sel
        timeout = None
        while not self.head._closed:
            # Wake at least every _IDLE_TICK: references dropped in the driver (a
            # deque filled by __del__, see _refs.py) are applied even when idle.
            tick = 0.01 if self.head._prestart else _IDLE_TICK
            wait = tick if timeout is None else min(timeout, tick)
            try:
                ready = sel.select(wait)
            except (OSError, ValueError):
                if self.head._closed:
                    return
                continue
            with self.head._lock:
                if self.head._closed:
                    return
                self.head.outbox.hold()        # sends: one write per worker, at the end
                try:
                    timeout = self._handle(ready)
                    self.head.outbox.release()
                except Exception as e:  # noqa: BLE001 - the state may be half-updated: stop
                    self.head.outbox.drop()
                    self.head._break(e)
                    return
            self.flush_logs(block=False)
            if self.head.logs is not None:
                self.head.logs.flush()

    def _handle(self, ready):
        """One round of the control loop (under the lock); returns the next timer timeout."""
        self.head._drain_local()
        for key, events in ready:
            if key.data is None:
                try:
                    os.read(self._wake_r, 4096)
                except BlockingIOError:
                    pass
            elif key.data[0] == "conn":
                if events & selectors.EVENT_WRITE:
                    self.head.outbox.flush(key.data[1])
                if events & selectors.EVENT_READ:
                    self._read_worker(key.data[1])
            elif key.data[0] == "exit":
                self._on_exit_event(key.data[1])
            else:
                self._on_status_event(key.data[1])
        timeout = self.output.due(self.head.table.run_timers())
        if not ready and self.head._prestart:
            self.head._prestart = self.head.pool.prestart_one()
        return timeout

    def _read_rest(self, w) -> None:
        """Handle what a dead worker wrote before it died (a "done" first, then its
        death: a task queued behind the finished one is not blamed for it)."""
        if w.reader is None or w.conn.closed:
            return
        while not w.dead:
            try:
                if not _procs.readable(w.reader.fd):
                    return                  # (a child it forked may hold the pipe open)
                msgs = w.reader.read()
            except (EOFError, OSError):
                return
            if not msgs:
                return
            for msg in msgs:
                if w.dead:
                    return
                self._on_message(w, msg)

    def _read_worker(self, w) -> None:
        if w.dead:          # handled already (e.g. its node was removed): a stale event
            return
        try:
            msgs = w.reader.read()
        except (EOFError, OSError):
            # The process is exiting; its pidfd and sentinel report the death (and exit code).
            try:
                self._sel.unregister(w.conn.fileno())
            except (KeyError, ValueError):
                pass
            return
        for msg in msgs:
            if w.dead:
                break
            self._on_message(w, msg)

    def _on_message(self, w, msg) -> None:
        kind, changes = msg[0], msg[1]
        if changes:
            self.apply_changes(changes, w)
        handler = getattr(self, "_msg_" + kind, None)
        if handler is not None:
            handler(w, *msg[2:])
        elif kind in _protocol.ADDON_MESSAGES:
            _protocol.ADDON_MESSAGES[kind](*msg[2:])
        else:
            raise _protocol.ProtocolError(f"unknown message kind {kind!r} from worker {w.wid}")

    # One method per kind a worker sends (see _protocol.py).
    def _msg_done(self, w, tid, results, t0, t1, retry=False) -> None:
        self.head.sched.on_done(w, tid, results, t0, t1, retry)

    def _msg_yield(self, w, tid, result) -> None:
        """One value of a streaming task (see ``_streaming``): stored now, ready for the caller."""
        self.head.sched.on_yield(w, tid, _protocol.Result(*result))

    def _msg_submit(self, w, spec) -> None:
        self.head.sched.submit(spec, w)

    def _msg_put(self, w, oid, kind, data, contained) -> None:
        self.head.table.store(oid, kind, data, False, contained, w.node)

    def _msg_fn(self, w, fn_id, data) -> None:
        self.head.sched.fns[fn_id] = data

    def _msg_log(self, w, prefix, text) -> None:
        self.output.add(prefix, text)

    def _msg_actor_ready(self, w, aid, error, t0, t1) -> None:
        self.head.actors_part.on_ready(w, aid, error, t0, t1)

    def _msg_cancel(self, w, oid, force, recursive) -> None:
        try:
            self.head.sched.cancel(oid, force, recursive)
        except ValueError:
            pass

    def _msg_kill(self, w, aid, no_restart) -> None:
        self.head.actors_part.kill(aid, no_restart)

    def _msg_exit_actor(self, w, aid) -> None:
        self.head.actors_part.exiting(aid)

    def _msg_debug_end(self, w, sid, text) -> None:
        """A worker's pdb session goes on running (c, q, the task ended): see _debugger."""
        self.print_logs()
        self.head.debug.on_end(w, sid, text)

    def _msg_refs(self, w) -> None:
        """Only reference changes (applied above)."""

    def _msg_req(self, w, rid, op, args) -> None:
        def reply(ok, value):
            self.head._send(w, ("reply", None, rid, ok, value))

        if op in ("get", "wait", "debug"):      # its queued tasks must not wait behind it
            for t in self.head.sched.pipeline.take_back(w):
                self.head.sched.deps_ready(t)
        if op in ("get", "wait"):
            self._blocking_request(w, op, args, reply)
            return
        if op == "put_file":         # a worker's large put: full store = error in the worker
            self._put_file(w, args, reply)
            return
        if op == "debug":            # breakpoint(): answered by a driver thread (_debugger)
            self.print_logs()        # what the task printed comes before pdb's prompt
            self.head.debug.on_read(w, *args, reply)
            return
        try:
            reply(True, self.answer(op, args, w))
        except Exception as e:  # a bad request: raise it in the worker
            reply(False, e)

    def _put_file(self, w, args, reply) -> None:
        """Count a worker's put file; if a spill must make room first, answer after it."""
        oid, size, contained = args

        def again(error):
            if error is not None or w.dead:
                self.head.nodes[w.node].store.discard(oid)
                reply(False, error)
            else:
                self._put_file(w, args, reply)
        try:
            if not self.head.room_for_put(oid, size, w.node, again):
                return                       # the worker waits; answered by again()
            self.head.table.store(oid, FILE, size, False, contained, w.node)
        except Exception as e:
            reply(False, e)
            return
        reply(True, None)

    def answer(self, op, args, w=None):
        if op == "create_actor":
            return self.head.actors_part.create(args[0], w)
        if op == "get_actor":
            return self.head.actors_part.lookup(*args)
        if op == "resources":
            return _nodes.resources(self.head.nodes, *args)
        if op == "nodes":
            return _nodes.describe(self.head.nodes)
        if op == "timeline":
            return list(self.head.timeline_rows)
        if op == "events":
            return list(self.head.event_log)
        if op in _protocol.ADDON_REQUESTS:
            return _protocol.ADDON_REQUESTS[op](self.head, *args)
        raise ValueError(f"unknown request {op!r}")

    def _blocking_request(self, w, op, args, reply) -> None:
        """get/wait from a worker: answer when ready; meanwhile lend its CPUs out."""
        task = w.task
        if op == "get":
            ids, timeout = args
            unique = list(dict.fromkeys(ids))
            need = len(unique)
            lost = self.head.table.lost(unique)
            if lost:
                reply(False, self.head.table.lost_error(lost))
                return
        else:
            ids, need, timeout = args
            unique = ids

        def done(timed_out):
            if waiter_box:
                self.head.table.unwatch(waiter_box[0], unique)
            if lent and not task.done and not w.dead:     # take the CPUs back
                self.head.nodes[task.node].ledger.acquire(task, task.spec.resources)
            if op == "get":
                if timed_out:
                    reply(False, GetTimeoutError(f"get() timed out after {timeout} s"))
                    return

                def send():
                    try:
                        reply(True, [self.head.table.descriptor(oid, w.node) for oid in ids])
                    except Exception as e:
                        reply(False, e)
                if self.head.table.fetch(ids, w.node, send):    # else: send() once copied
                    send()
            else:
                reply(True, self.head.table.ready_subset(unique)[:need])

        waiter_box: list = []
        lent = False
        waiter = self.head.table.watch(unique, need, done, timeout)
        waiter_box.append(waiter)
        if not waiter.fired and task is not None and self.head.sched.release(task):
            lent = True          # lend its CPUs out while it waits
            self.head.sched.schedule()
