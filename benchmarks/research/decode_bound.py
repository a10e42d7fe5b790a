"""The memory-bandwidth bound on decoding: how many tokens/s a GPU can generate at most for a model.

Each decode step reads every weight once, whatever the batch size, so a step takes at least
``bytes of weights / memory bandwidth``. At batch size B that bounds aggregate decoding at
``B x bandwidth / weight bytes`` tokens/s (reading the KV cache only adds to the bytes; at large B the
matrix units, not memory, become the limit). This script measures the device's bandwidth (a large
device-to-device copy, bytes read plus written, median of repeats), reads the weight bytes of a model
folder from its safetensors headers, and prints the bound per batch size, to set beside the aggregate
tokens/s that benchmarks/ask_throughput.py measures end to end.

    python -m benchmarks.research.decode_bound --model /tmp/gen [--batches 1,4,16,32,64]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path


def weight_bytes(model_dir: Path) -> int:
    from safetensors import safe_open

    total = 0
    for file in sorted(model_dir.glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as fh:
            for name in fh.keys():  # noqa: SIM118  # safe_open has no __iter__
                sl = fh.get_slice(name)
                count = 1
                for dim in sl.get_shape():
                    count *= dim
                total += count * _dtype_bytes(sl.get_dtype())
    if total == 0:
        raise SystemExit(f"no safetensors weights in {model_dir}")
    return total


def _dtype_bytes(dtype: str) -> int:
    return {"F64": 8, "F32": 4, "BF16": 2, "F16": 2, "I64": 8, "I32": 4, "I8": 1, "U8": 1, "BOOL": 1}[dtype]


def copy_bandwidth(gib: float = 4.0, repeats: int = 20) -> tuple[float, str]:
    """Bytes/s of a device-to-device copy (read + write), median of ``repeats``; and the device name."""
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: the bound is a GPU figure")
    n = int(gib * 2**30) // 4
    src = torch.rand(n, device="cuda")
    dst = torch.empty_like(src)
    for _ in range(3):
        dst.copy_(src)
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        dst.copy_(src)
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1000)
    return 2 * n * 4 / statistics.median(times), torch.cuda.get_device_name()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="model folder with .safetensors weights")
    parser.add_argument("--batches", default="1,4,16,32,64")
    args = parser.parse_args()
    wbytes = weight_bytes(args.model)
    bandwidth, device = copy_bandwidth()
    steps = bandwidth / wbytes
    print(f"device {device}: copy bandwidth {bandwidth / 1e12:.2f} TB/s (read + write, median of 20)")
    print(f"weights {wbytes / 1e9:.3f} GB -> at most {steps:,.0f} decode steps/s ({1000 / steps:.3f} ms per step)")
    print(f"{'batch':>6} {'bound tok/s':>12}")
    for b in (int(x) for x in args.batches.split(",")):
        print(f"{b:>6} {b * steps:>12,.0f}")


if __name__ == "__main__":
    main()
