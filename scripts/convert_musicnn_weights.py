#!/usr/bin/env python
"""Convert the musicnn 0.1.0 TensorFlow checkpoints to safetensors for the PyTorch port.

This is a one-time, reproducible conversion; nothing here runs at inference time and
TensorFlow is *not* needed: the checkpoint's "tensor bundle" is read directly.

A TF tensor bundle is two files:

* ``.index``: a LevelDB-style SSTable (uncompressed blocks, checked below) mapping each
  variable name to a ``BundleEntryProto`` (dtype, shape, shard, offset, size, crc32c);
* ``.data-00000-of-00001``: the raw little-endian tensor bytes.

Only the inference variables are kept (conv/dense kernels and biases, batch-norm gamma,
beta, moving_mean, moving_variance); the Adam slots are dropped. Kernels are transposed
to PyTorch's layouts and stored under the state-dict names of
:class:`music_reclass.models.musicnn.network.MusicnnNet`.

Usage::

    python scripts/convert_musicnn_weights.py                 # pip-downloads musicnn==0.1.0
    python scripts/convert_musicnn_weights.py --wheel /path/musicnn-0.1.0-py3-none-any.whl

Writes ``<model>.safetensors`` and ``<model>.json`` (labels, source, checksums,
converter version) into ``src/music_reclass/models/musicnn/weights/`` (``--out-dir``).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

CONVERTER_VERSION = 1
WHEEL_NAME = "musicnn-0.1.0-py3-none-any.whl"
MODELS = ("MSD_musicnn", "MTT_musicnn")
LABEL_VARIABLES = {"MSD_musicnn": "MSD_LABELS", "MTT_musicnn": "MTT_LABELS"}
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src/music_reclass/models/musicnn/weights"

SSTABLE_MAGIC = 0xDB4775248B80FB57
TF_FLOAT = 1  # DataType.DT_FLOAT

# TF variable scope -> our module path, in the graph's creation order (models.py,
# build_musicnn): the input batch norm, the five front-end branches (timbral 7x38,
# 7x67, temporal 128, 64, 32), the three mid-end convolutions, then the back-end.
CONV_NAMES = {
    "conv2d": "timbral_74.conv",
    "conv2d_1": "timbral_77.conv",
    "conv2d_2": "temporal_128.conv",
    "conv2d_3": "temporal_64.conv",
    "conv2d_4": "temporal_32.conv",
    "conv2d_5": "midend_1.conv",
    "conv2d_6": "midend_2.conv",
    "conv2d_7": "midend_3.conv",
    "dense": "dense.linear",
    "dense_1": "output.linear",
}
BN_NAMES = {
    "batch_normalization": "input_bn",
    "batch_normalization_1": "timbral_74.bn",
    "batch_normalization_2": "timbral_77.bn",
    "batch_normalization_3": "temporal_128.bn",
    "batch_normalization_4": "temporal_64.bn",
    "batch_normalization_5": "temporal_32.bn",
    "batch_normalization_6": "midend_1.bn",
    "batch_normalization_7": "midend_2.bn",
    "batch_normalization_8": "midend_3.bn",
    "batch_normalization_9": "pool_bn",
    "batch_normalization_10": "dense.bn",
}
BN_FIELDS = {
    "gamma": "weight",
    "beta": "bias",
    "moving_mean": "running_mean",
    "moving_variance": "running_var",
}


# --------------------------------------------------------------------------- crc32c
def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), as TensorFlow and LevelDB use it."""
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """TF stores CRCs 'masked' (rotated and offset) so CRCs of CRCs stay strong."""
    crc = crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


# --------------------------------------------------------------------------- SSTable
def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, pos


def _read_block(buf: bytes, offset: int, size: int) -> list[tuple[bytes, bytes]]:
    """Entries of one SSTable block (prefix-compressed keys, restart array at the end)."""
    compression = buf[offset + size]
    if compression != 0:
        raise ValueError(f"compressed SSTable block (type {compression}) is not supported")
    block = buf[offset : offset + size]
    n_restarts = struct.unpack_from("<I", block, size - 4)[0]
    end = size - 4 - 4 * n_restarts
    entries, key, pos = [], b"", 0
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        entries.append((key, block[pos : pos + value_len]))
        pos += value_len
    return entries


def read_sstable(buf: bytes) -> dict[bytes, bytes]:
    """All key/value pairs of a LevelDB table held in ``buf``."""
    footer = buf[-48:]
    if struct.unpack("<Q", footer[-8:])[0] != SSTABLE_MAGIC:
        raise ValueError("not an SSTable (bad magic)")
    pos = 0
    _meta_offset, pos = _varint(footer, pos)
    _meta_size, pos = _varint(footer, pos)
    index_offset, pos = _varint(footer, pos)
    index_size, pos = _varint(footer, pos)
    table = {}
    for _last_key, handle in _read_block(buf, index_offset, index_size):
        offset, hpos = _varint(handle, 0)
        size, _ = _varint(handle, hpos)
        table.update(_read_block(buf, offset, size))
    return table


# --------------------------------------------------------------------------- protobuf
def _parse_fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs of a protobuf message (varint, fixed, bytes)."""
    fields, pos = [], 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = struct.unpack_from("<Q", buf, pos)[0], pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = struct.unpack_from("<I", buf, pos)[0], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        fields.append((number, value))
    return fields


def parse_bundle_entry(buf: bytes) -> dict:
    """BundleEntryProto: dtype=1, shape=2, shard_id=3, offset=4, size=5, crc32c=6, slices=7."""
    entry = {"dtype": 0, "shape": [], "shard_id": 0, "offset": 0, "size": 0, "crc32c": None}
    for number, value in _parse_fields(buf):
        if number == 1:
            entry["dtype"] = value
        elif number == 2:  # TensorShapeProto: dim=2 (TensorShapeProto.Dim: size=1)
            entry["shape"] = [
                dict(_parse_fields(dim)).get(1, 0)
                for dim_number, dim in _parse_fields(value)
                if dim_number == 2
            ]
        elif number == 3:
            entry["shard_id"] = value
        elif number == 4:
            entry["offset"] = value
        elif number == 5:
            entry["size"] = value
        elif number == 6:
            entry["crc32c"] = value
        elif number == 7:
            raise ValueError("sliced tensors are not supported")
    return entry


def read_checkpoint(index: bytes, data: bytes, names: list[str]) -> dict[str, np.ndarray]:
    """The float32 tensors ``names`` of a single-shard TF bundle, CRC-checked."""
    table = read_sstable(index)
    tensors = {}
    for name in names:
        entry = parse_bundle_entry(table[name.encode()])
        if entry["dtype"] != TF_FLOAT or entry["shard_id"] != 0:
            raise ValueError(f"{name}: unexpected dtype {entry['dtype']} / shard")
        raw = data[entry["offset"] : entry["offset"] + entry["size"]]
        if entry["crc32c"] is not None and masked_crc32c(raw) != entry["crc32c"]:
            raise ValueError(f"{name}: crc32c mismatch, the checkpoint is damaged")
        array = np.frombuffer(raw, dtype="<f4").reshape(entry["shape"])
        tensors[name] = array.astype(np.float32)
    return tensors


def list_variables(index: bytes) -> list[str]:
    return sorted(key.decode() for key in read_sstable(index) if key)


# --------------------------------------------------------------------------- mapping
def tf_to_torch(tf_vars: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Rename and transpose TF inference variables to our state-dict layout."""
    out = {}
    for name, value in tf_vars.items():
        scope, field = name.split("/", 1)
        if scope in BN_NAMES:
            out[f"{BN_NAMES[scope]}.{BN_FIELDS[field]}"] = value
            continue
        target = CONV_NAMES[scope]
        if field == "bias":
            out[f"{target}.bias"] = value
        elif value.ndim == 2:  # dense [in, out] -> Linear [out, in]
            out[f"{target}.weight"] = value.T
        elif target.startswith("midend"):  # [7, C_in, 1, C_out] -> Conv1d [C_out, C_in, 7]
            out[f"{target}.weight"] = value[:, :, 0, :].transpose(2, 1, 0)
        else:  # [kh, kw, 1, C_out] -> Conv2d [C_out, 1, kh, kw]
            out[f"{target}.weight"] = value.transpose(3, 2, 0, 1)
    return {key: np.ascontiguousarray(val, dtype=np.float32) for key, val in out.items()}


def inference_variable_names(all_names: list[str]) -> list[str]:
    keep = []
    for name in all_names:
        scope, _, field = name.partition("/")
        is_layer_weight = scope in CONV_NAMES and field in ("kernel", "bias")
        if is_layer_weight or (scope in BN_NAMES and field in BN_FIELDS):
            keep.append(name)
    return keep


def read_labels(configuration_py: str, model: str) -> list[str]:
    """The tag list of ``model`` from musicnn/configuration.py (parsed, not executed)."""
    for node in ast.parse(configuration_py).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == LABEL_VARIABLES[model] for t in node.targets
        ):
            return list(ast.literal_eval(node.value))
    raise ValueError(f"{LABEL_VARIABLES[model]} not found in configuration.py")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_wheel(directory: Path) -> Path:
    """``pip download --no-deps musicnn==0.1.0`` (the only network access here)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "musicnn==0.1.0",
            "-d",
            str(directory),
        ],
        check=True,
    )
    return directory / WHEEL_NAME


def convert(wheel: Path, out_dir: Path) -> None:
    from safetensors.numpy import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    wheel_sha = sha256_file(wheel)
    with zipfile.ZipFile(wheel) as archive:
        configuration = archive.read("musicnn/configuration.py").decode()
        license_text = archive.read("musicnn-0.1.0.dist-info/LICENSE.md").decode()
        for model in MODELS:
            index = archive.read(f"musicnn/{model}/.index")
            data = archive.read(f"musicnn/{model}/.data-00000-of-00001")
            names = inference_variable_names(list_variables(index))
            tensors = tf_to_torch(read_checkpoint(index, data, names))
            target = out_dir / f"{model}.safetensors"
            save_file(tensors, str(target), metadata={"source": f"musicnn 0.1.0 {model}"})
            target.chmod(0o644)  # safetensors writes owner-only files
            labels = read_labels(configuration, model)
            sidecar = {
                "name": model,
                "version": f"musicnn-0.1.0-torch-{CONVERTER_VERSION}",
                "labels": labels,
                "source": {
                    "package": "musicnn==0.1.0 (PyPI)",
                    "wheel": WHEEL_NAME,
                    "wheel_sha256": wheel_sha,
                    "checkpoint": f"musicnn/{model}/",
                    "url": "https://github.com/jordipons/musicnn",
                    "license": "ISC (see LICENSE.musicnn.md)",
                    "authors": "Jordi Pons, Xavier Serra (Music Technology Group, UPF)",
                },
                "safetensors_sha256": sha256_file(target),
                "n_parameters": int(sum(t.size for t in tensors.values())),
                "converter": "scripts/convert_musicnn_weights.py",
                "converter_version": CONVERTER_VERSION,
            }
            (out_dir / f"{model}.json").write_text(json.dumps(sidecar, indent=2) + "\n")
            size_mb = target.stat().st_size / 1e6
            print(f"{model}: {len(tensors)} tensors, {size_mb:.2f} MB -> {target}")
    (out_dir / "LICENSE.musicnn.md").write_text(
        "The musicnn weights in this folder (MSD_musicnn, MTT_musicnn) were converted from\n"
        "musicnn 0.1.0 (https://github.com/jordipons/musicnn) and are distributed under its\n"
        "ISC license:\n\n" + license_text.strip() + "\n"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, help=f"path to {WHEEL_NAME} (else pip-downloaded)")
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.wheel is not None:
        convert(args.wheel, args.out_dir)
        return
    with tempfile.TemporaryDirectory() as tmp:
        convert(fetch_wheel(Path(tmp)), args.out_dir)


if __name__ == "__main__":
    main()
