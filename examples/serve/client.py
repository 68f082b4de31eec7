"""Call the example server with tritonclient (what any KServe v2 / Triton HTTP client does).

Run after `python examples/serve/make_example.py` and
`keras-sanitize serve --config examples/serve/server.toml`:

    python examples/serve/client.py --ca examples/serve/server.pem
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="127.0.0.1:8443", help="host:port of the server")
    parser.add_argument("--ca", type=Path, default=HERE / "server.pem", help="the server's certificate")
    parser.add_argument("--key", default="alice-demo-key", help="your tenant's API key")
    args = parser.parse_args()
    client = httpclient.InferenceServerClient(args.url, ssl=True, ssl_options={"ca_certs": str(args.ca)})
    headers = {"Authorization": f"Bearer {args.key}"}
    print("ready:", client.is_server_ready())
    print("models:", [m["name"] for m in client.get_model_repository_index(headers=dict(headers))])
    x = np.random.default_rng(0).random((2, 64), dtype=np.float32)
    x[1, 0] = np.nan  # refused by the server's tensor guard; the other item is answered
    inp = httpclient.InferInput("pixels", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    result = client.infer("digits", [inp], headers=dict(headers), request_id="example-1")
    print("probs[0]:", np.round(result.as_numpy("probs")[0], 3))
    print("refused:", [(f["index"], f["code"]) for f in result.get_response().get("findings", [])])
    try:
        client.infer("digits", [inp], headers={"Authorization": "Bearer wrong"})
    except InferenceServerException as exc:
        print("wrong key:", exc.status(), exc.message())
    client.close()


if __name__ == "__main__":
    main()
