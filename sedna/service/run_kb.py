"""``python -m sedna.service.run_kb``: the knowledge base server, under the entry point upstream's KB image runs.

Same environment as upstream: ``KnowledgeBaseServer`` (``http(s)://<ipv4>:<port>``, else ``0.0.0.0:9020``),
``KnowledgeBasePath`` (file directory), ``KB_URL`` (database URL); see
``sedna.service.server.knowledge_base.__main__`` for the optional token and size limit.
"""

from __future__ import annotations

from sedna.service.server.knowledge_base.__main__ import main

if __name__ == "__main__":
    main()
