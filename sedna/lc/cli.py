"""``sedna lc``: run a node's LocalController."""

from __future__ import annotations


def register(sub) -> None:
    lc = sub.add_parser(
        "lc", help="run the LocalController of one node",
        description="Run the LocalController of one node; configured by the environment (docs/lc.md): "
                    "GM_ADDRESS (required), NODENAME, BIND_ADDRESS, BIND_PORT, ROOTFS_MOUNT_DIR, LC_DB_PATH, "
                    "SEDNA_CHANNEL_TOKEN (this node's token: sedna gm node-token NODE), SEDNA_CHANNEL_TOKEN_FILE, "
                    "LC_API_TOKEN (a static operator token, besides the workers' GM-minted ones), LC_INSECURE, LC_DATASET_POLL_SECONDS, LC_TRIGGER_PERIOD_SECONDS, "
                    "LC_OUTBOX_MAX, LC_OUTBOX_WINDOW, LC_MAX_REPORT_BYTES, LC_RECONNECT_MAX_SECONDS, "
                    "LC_ACK_TIMEOUT_SECONDS, LC_GM_ACKS, LC_LOG_FORMAT.")
    lc.add_argument("--insecure", action="store_true",
                    help="accept worker reports without a token (logged loudly; trusted machines only)")
    lc.set_defaults(func=_run)


def _run(args) -> int:
    from sedna.lc.main import run

    return run(args)
