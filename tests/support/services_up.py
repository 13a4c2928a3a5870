"""Exit 0 when the PostgreSQL server and Redis named on the command line answer."""

from __future__ import annotations

import sys


def main(pg_url: str, redis_url: str) -> int:
    import psycopg
    from redis import Redis

    try:
        server_url = pg_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(server_url, connect_timeout=3) as conn:
            conn.execute("select 1")
        Redis.from_url(redis_url, socket_connect_timeout=3).ping()
    except Exception as exc:
        print(f"不可达：{type(exc).__name__}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
