"""Create the two sites' datasets and a common test set with a fixed seed (no downloads).

    python prepare.py [--out DIR] [--per-client 300] [--test 400] [--seed 7]

Writes ``DIR/client1.txt`` + ``DIR/client1/*.npy`` (site 1: mostly good surfaces and scratches),
``DIR/client2.txt`` + ``DIR/client2/`` (site 2: mostly spots and cracks) and ``DIR/test.txt`` + ``DIR/test/``;
index lines are ``<path relative to the index> <label>``.
"""

from __future__ import annotations

import argparse
import json

from interface import generate_dataset


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="./data")
    parser.add_argument("--per-client", type=int, default=300)
    parser.add_argument("--test", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    indexes = generate_dataset(args.out, clients=2, per_client=args.per_client, test_size=args.test,
                               seed=args.seed)
    print(json.dumps(indexes))


if __name__ == "__main__":
    main()
