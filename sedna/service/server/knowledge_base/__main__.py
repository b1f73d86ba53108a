"""Run the knowledge base as the KB image does: ``python -m sedna.service.server.knowledge_base``.

Env: ``KnowledgeBaseServer`` (``http(s)://<ipv4>:<port>``; otherwise ``0.0.0.0:9020``), ``KnowledgeBasePath``
(file directory, default ``./kb``), ``KB_URL`` (database URL, default ``sqlite:///<dir>/.kb/lifelong_kb.sqlite3``),
``SEDNA_KB_TOKEN`` (optional bearer token), ``SEDNA_KB_MAX_UPLOAD`` (bytes). ``--host``/``--port``/``--dir``
override them.
"""

from __future__ import annotations

import argparse
import logging
import os
import re

from sedna.service.server.knowledge_base.server import KBServer


def address_from_env(value: str | None) -> tuple[str, int]:
    match = re.match(r"^https?://(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})/?$", (value or "").strip())
    if match:
        return match.group(1), int(match.group(2))
    return "0.0.0.0", 9020


def main(argv: list[str] | None = None) -> None:
    host, port = address_from_env(os.environ.get("KnowledgeBaseServer"))
    parser = argparse.ArgumentParser(prog="python -m sedna.service.server.knowledge_base", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=host)
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--dir", default=os.environ.get("KnowledgeBasePath") or os.path.join(os.getcwd(), "kb"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server = KBServer(host=args.host, http_port=args.port, save_dir=args.dir)
    server.start()


if __name__ == "__main__":
    main()
