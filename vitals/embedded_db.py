"""The embedded PostgreSQL used when no DATABASE_URL is set (`make demo`, `make test`).

pgserver ships PostgreSQL binaries in a wheel; the data lives under ./var/pgdata and the
server keeps running between commands, so later runs connect at once.
"""

from __future__ import annotations

from pathlib import Path


def embedded_database_url(base_dir: Path) -> str:
    import pgserver  # imported lazily: only needed when no DATABASE_URL is set

    data_dir = base_dir / "var" / "pgdata"
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir, cleanup_mode=None)
    return server.get_uri()
