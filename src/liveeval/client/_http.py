"""One POST with retries and exponential backoff, which a closing client can cut short."""

from __future__ import annotations

import http.client
import logging
import threading
import time
import urllib.error
import urllib.request

__all__ = ["Transport", "Undelivered"]

log = logging.getLogger("liveeval.client")
_MAX_DELAY = 30.0


class Undelivered(Exception):
    """No answer worth keeping: the server stayed unreachable or kept answering 5xx
    (or 429) through every retry, or the close deadline passed."""


class Transport:
    """POSTs to one server. ``post`` retries network errors, 5xx and 429 with
    exponential backoff and returns any other answer, success or not.

    Once :meth:`set_deadline` is called (by ``Client.close``), a ``bounded`` post
    waits no later than the deadline: backoff sleeps are cut short and request
    timeouts shortened, and it raises :class:`Undelivered` when the deadline passes.
    """

    def __init__(
        self, url: str, token: str | None, *, retries: int, backoff: float, timeout: float
    ) -> None:
        self.url = url
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self._headers = {"authorization": f"Bearer {token}"} if token else {}
        self._deadline: float | None = None
        self._wake = threading.Condition()

    def set_deadline(self, deadline: float) -> None:
        with self._wake:
            self._deadline = deadline
            self._wake.notify_all()

    def _remaining(self, bounded: bool) -> float | None:
        deadline = self._deadline
        return None if not bounded or deadline is None else deadline - time.monotonic()

    def post(
        self, path: str, body: bytes, content_type: str, *, bounded: bool = True
    ) -> tuple[int, str]:
        """Returns ``(status, body)`` of the first answer that is not retried."""
        headers = {**self._headers, "content-type": content_type}
        delay = self.backoff
        reason = "no attempt made"
        for attempt in range(self.retries + 1):
            remaining = self._remaining(bounded)
            if remaining is not None and remaining <= 0:
                raise Undelivered(f"close() timed out before delivery ({reason})")
            timeout = self.timeout if remaining is None else min(self.timeout, remaining)
            request = urllib.request.Request(f"{self.url}{path}", body, headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    return response.status, response.read().decode(errors="replace")
            except urllib.error.HTTPError as exc:
                with exc:
                    text = exc.read().decode(errors="replace")
                if exc.code < 500 and exc.code != 429:
                    return exc.code, text
                reason = f"answered {exc.code}"
            except (OSError, http.client.HTTPException) as exc:  # URLError is an OSError
                reason = f"unreachable: {getattr(exc, 'reason', None) or exc!r}"
            if attempt < self.retries:
                log.warning(
                    "liveeval at %s %s; retry %d/%d", self.url, reason, attempt + 1, self.retries
                )
                self._sleep(delay, bounded)
                delay = min(delay * 2, _MAX_DELAY)
        raise Undelivered(f"{reason}, after {self.retries} retries")

    def _sleep(self, seconds: float, bounded: bool) -> None:
        end = time.monotonic() + seconds
        with self._wake:
            while True:
                now = time.monotonic()
                stop = end
                if bounded and self._deadline is not None:
                    stop = min(stop, self._deadline)
                if now >= stop:
                    return
                self._wake.wait(stop - now)
