"""Remote functions and actors that several test modules use (pickled by reference:
workers import this module as ``tests.shared_remotes``)."""

from __future__ import annotations

import os

import minirt


@minirt.remote
class Counter:
    """An actor with a little state: ``incr`` adds and returns the new count."""

    def __init__(self, start=0):
        self.n = start

    def incr(self, by=1):
        self.n += by
        return self.n

    def value(self):
        return self.n

    def pid(self):
        return os.getpid()

    @minirt.method(num_returns=2)
    def pair(self):
        return self.n, -self.n

    def boom(self):
        raise IndexError("no such item")
