"""A federated client as a separate process, for the server tests.

Usage: fl_client_proc.py URL CLIENT_ID ROUNDS NUM_SAMPLES VALUE [COMPRESSION]
Each round it sends layers filled with VALUE + round index and prints one JSON line per received global model.
"""

import json
import sys

import numpy as np

from sedna.service.client import AggregationClient


def main() -> None:
    url, client_id, rounds, num_samples, value = sys.argv[1:6]
    compression = sys.argv[6] if len(sys.argv) > 6 else "none"
    client = AggregationClient(url, client_id, connect_timeout=30, compression=compression)
    print(json.dumps({"event": "subscribed", "global_round": client.global_round}), flush=True)
    for r in range(int(rounds)):
        if client.exit_flag == "ok":
            break
        weights = [np.full((2, 3), float(value) + r, np.float32), np.array([float(value)], np.float32)]
        result = client.exchange(weights, int(num_samples), job_name="t", timeout=60)
        data = result["data"]
        print(json.dumps({"event": "round", "round": result["round_number"], "exit_flag": data["exit_flag"],
                          "total_sample": data["total_sample"], "w0": data["weights"][0].tolist(),
                          "participants": result["participants"], "dropped": result["dropped"]}), flush=True)
    client.close()


if __name__ == "__main__":
    main()
