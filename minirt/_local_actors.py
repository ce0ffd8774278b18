"""Local mode's actors: live instances in the driver, their names, deaths and restarts.

In local mode (``_local.py``) an actor is a plain object of this process;
``LocalCore`` runs its ``__init__`` and methods, and :class:`LocalActors`
keeps the books the head's actor part keeps: names per namespace, which
actors are dead and why (the ``ActorDiedError`` their calls raise), restarts
left. An ``async`` actor gets an event loop in a thread of its own, so its
coroutines run even when the caller's thread has a running loop (a notebook)::

    handle.method.remote() --> LocalCore --> instance.method(...)        (a plain actor)
                                        \\--> actor's loop thread: await   (an async actor)
"""

from __future__ import annotations

import asyncio
import inspect
import threading

from ._actor_hooks import ActorNames
from .exceptions import ActorDiedError


class ExitActor(BaseException):
    """Raised by ``exit_actor()`` inside an actor method in local mode."""


class LocalActor:
    """One actor: the live instance and what re-creating it needs."""

    def __init__(self, spec, args, deps, async_class: bool):
        self.spec = spec                   # the creation TaskSpec
        self.aid = spec.actor_id
        self.args, self.deps = args, deps  # its arguments, kept for a restart
        self.opts = spec.actor_opts
        self.class_name = spec.actor_opts.get("class_name") or spec.name.split(".")[0]
        self.instance = None
        self.dead = False
        self.error = None                  # the ActorDiedError its calls raise once dead
        self.restarts = 0
        self.async_class = async_class
        self.loop = self.thread = None

    def run_async(self, fn, frames_of, frame):
        """Run ``fn()`` (which may return an awaitable) on this actor's event loop, with
        ``frame`` pushed on that thread's ``frames_of()`` meanwhile; return its value."""
        if self.thread is threading.current_thread():
            raise RuntimeError(f"in local mode an async actor ({self.class_name}) cannot call "
                               "its own methods through its handle: its event loop would wait "
                               "for itself; call the method directly (self.method())")
        if self.loop is None:
            loop = self.loop = asyncio.new_event_loop()

            def run():
                loop.run_forever()
                loop.close()
            self.thread = threading.Thread(target=run, daemon=True,
                                           name=f"minirt-local-{self.class_name}")
            self.thread.start()

        async def call():
            frames = frames_of()
            frames.append(frame)
            try:
                value = fn()
                if inspect.isawaitable(value):
                    value = await value
                return value, None
            except BaseException as e:  # noqa: BLE001 - raised in the caller's thread
                return None, e          # (an asyncio task would re-raise some in the loop)
            finally:
                frames.pop()
        value, error = asyncio.run_coroutine_threadsafe(call(), self.loop).result()
        if error is not None:
            raise error
        return value

    def stop_loop(self):
        """Stop the event loop (it closes itself); return its thread, to join outside locks."""
        loop, thread, self.loop, self.thread = self.loop, self.thread, None, None
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
        return thread


class LocalActors:
    """The actors of a local-mode runtime (used under its lock)."""

    def __init__(self):
        self.actors: dict[bytes, LocalActor] = {}
        self.names = ActorNames()

    def claim_name(self, spec):
        """Register a named actor's name; return the live actor's id for ``get_if_exists``.

        Raises:
            ActorAlreadyExistsError: the name is taken by a live actor.
        """
        return self.names.claim(spec.actor_id, spec.actor_opts,
                                lambda aid: aid in self.actors and not self.actors[aid].dead)

    def get(self, aid):
        return self.actors.get(aid)

    def lookup(self, name, namespace):
        """``get_actor``: ``(aid, meta)`` of the live actor with that name, or None."""
        aid = self.names.get(name, namespace)
        actor = self.actors.get(aid) if aid is not None else None
        return None if actor is None or actor.dead else (aid, actor.opts["meta"])

    def dead(self, actor, error) -> None:
        """The actor is gone (its name is free again); its calls raise ``error``."""
        actor.dead = True
        actor.error = error or ActorDiedError(f"the actor {actor.class_name} has exited")
        actor.instance = None
        self.names.release(actor.aid, actor.opts.get("namespace"), actor.opts.get("name"))
        actor.stop_loop()

    def may_restart(self, actor) -> bool:
        limit = actor.opts.get("max_restarts", 0)
        return limit < 0 or actor.restarts < limit

    def revive(self, actor) -> None:
        """Count a restart; the caller runs ``__init__`` again."""
        actor.restarts += 1
        actor.dead, actor.error = False, None
        self.names.put(actor.aid, actor.opts.get("namespace"), actor.opts.get("name"))

    def unreachable(self, aid) -> None:
        """The last handle to ``aid`` is gone: the actor exits unless it is detached."""
        actor = self.actors.get(aid)
        if actor is not None and not actor.dead and actor.opts.get("lifetime") != "detached":
            self.dead(actor, None)

    def holds(self) -> list:
        """The resources the live actors hold."""
        return [a.opts.get("hold") or {} for a in self.actors.values() if not a.dead]

    def close(self) -> list:
        """Forget every actor; return their loop threads (to join outside the lock)."""
        threads = [a.stop_loop() for a in self.actors.values()]
        self.actors.clear()
        self.names.clear()
        return [t for t in threads if t is not None]
