"""``sedna gm``: run the GlobalManager; ``sedna gm node-token NODE`` / ``sedna gm kb-token``: print a token
derived from the GM secret (docs/security.md)."""

from __future__ import annotations


def register(sub) -> None:
    gm = sub.add_parser("gm", help="run the GlobalManager (kopf operator + LC websocket server)")
    gm.add_argument("--config", default=None, help="YAML config file (gm.md §1.2 keys; default ./sedna-gm.yaml)")
    gm.add_argument("--insecure", action="store_true",
                    help="turn authentication OFF on every channel (logged loudly; trusted machines only)")
    gm.add_argument("--version", action="version", version=_version())
    gm.set_defaults(func=_run)
    gm_sub = gm.add_subparsers(dest="gm_command")
    token = gm_sub.add_parser("node-token", help="print the LC node token of NODE (SEDNA_CHANNEL_TOKEN of its LC)")
    token.add_argument("node")
    token.add_argument("--config", dest="token_config", default=None,
                       help="the GM's config file (its auth.secret/secretFile; default ./sedna-gm.yaml)")
    token.set_defaults(func=_node_token)
    kb = gm_sub.add_parser("kb-token", help="print the knowledge base token (SEDNA_KB_TOKEN of the KB server)")
    kb.add_argument("--config", dest="token_config", default=None, help="the GM's config file")
    kb.set_defaults(func=_node_token, node=None)


def _version() -> str:
    from sedna import __version__

    return f"sedna gm {__version__}"


def _run(args) -> int:
    from sedna.gm.main import run

    return run(args)


def _node_token(args) -> int:
    import sys

    from sedna.common.tokens import kb_token, node_token
    from sedna.gm.auth import load_secret
    from sedna.gm.config import ConfigError, load_config

    try:
        cfg = load_config(args.token_config or args.config)
        if cfg.insecure:
            raise ConfigError("the GM runs with auth.insecure: there are no node tokens")
        secret = load_secret(cfg)
        print(kb_token(secret) if args.node is None else node_token(secret, args.node))
    except ConfigError as exc:
        print(f"sedna gm node-token: {exc}", file=sys.stderr)
        return 1
    return 0
