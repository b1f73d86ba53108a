"""An aggregation server for tests: on 127.0.0.1, a free port unless given, its checkpoint in ``tmp_path``."""

from sedna.service.server import AggregationServer


def make_server(tmp_path, port=0, **kw) -> AggregationServer:
    kw.setdefault("exit_grace", 0.5)
    kw.setdefault("checkpoint_path", str(tmp_path / "global.safetensors"))
    kw.setdefault("job_name", "t")
    return AggregationServer("FedAvg", host="127.0.0.1", http_port=port, **kw)


def url_of(server) -> str:
    return f"ws://127.0.0.1:{server.port}/FedAvg"
