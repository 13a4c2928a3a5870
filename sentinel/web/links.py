"""Links built from data the user or the public controls: only safe ones reach an ``href``.

Two rules, one place: a link to the outside (an item's original post) must be http(s);
a link back into the site (``?back=``, ``next``, the referrer) must stay on this site.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import request

EXTERNAL_SCHEMES = ("http", "https")


def external_url(url: str | None) -> str | None:
    """``url`` when it is an absolute http(s) link with a host, else None.

    Item URLs arrive from channels and imports; ``javascript:`` or ``data:`` must never
    become a clickable link.
    """
    if not url:
        return None
    url = url.strip()
    if any(c in url for c in "\r\n\t\\") or any(ord(c) < 32 for c in url):
        return None
    parts = urlsplit(url)
    if parts.scheme.lower() not in EXTERNAL_SCHEMES or not parts.netloc:
        return None
    return url


def same_site_path(target: str | None) -> str | None:
    """A path on this site (``/cases/1?x=y``) for ``target``, or None when it leads elsewhere.

    Accepts a site-relative path, or an absolute http(s) URL on this host (the referrer),
    which is reduced to its path. Refuses ``//host``, ``/\\host``, other schemes and hosts.
    """
    if not target:
        return None
    target = target.strip()
    if "\\" in target or any(ord(c) < 32 for c in target):
        return None
    parts = urlsplit(target)
    foreign = parts.scheme.lower() not in EXTERNAL_SCHEMES or parts.netloc != request.host
    if (parts.scheme or parts.netloc) and foreign:
        return None
    path = parts.path
    if not path.startswith("/") or path.startswith("//"):
        return None
    return path + (f"?{parts.query}" if parts.query else "")
