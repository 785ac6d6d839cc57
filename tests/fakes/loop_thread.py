"""An asyncio event loop on a background thread, for fake servers that must outlive test code.

The pipeline runs its own loop on its own thread; a fake server on a third thread is as
independent of it as a real remote host.
"""

from __future__ import annotations

import asyncio
import threading


class LoopThread:
    """Start with :meth:`start`, run coroutines with :meth:`call`, end with :meth:`stop`."""

    def __init__(self, name: str = "fake-server") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def start(self) -> "LoopThread":
        self._thread.start()
        return self

    def call(self, coro, timeout: float = 10.0):
        """Run ``coro`` on the loop and return its result (from any other thread)."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            import sys
            for task in asyncio.all_tasks(self.loop):
                task.print_stack(file=sys.stderr)
            raise

    def stop(self) -> None:
        async def _cancel_all():
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if self.loop.is_running():
            self.call(_cancel_all())
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)
