"""The web dashboard: pages served by ``liveeval serve`` under ``/``.

The pages are static shells with hand-written JavaScript and CSS shipped in this
package (no CDN, nothing fetched from outside at run time). Every number on them is
read from the same JSON API as any other client; the browser draws, it does not
compute metrics.
"""

from __future__ import annotations

from .pages import ASSETS, DIGEST, PAGES, pages_router

__all__ = ["ASSETS", "DIGEST", "PAGES", "pages_router"]
