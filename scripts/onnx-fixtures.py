#!/usr/bin/python3
"""Writes onnx/testdata: small CNNs exported by PyTorch's torch.onnx.export and the scores
PyTorch computes for a few fixed inputs, so that the Go importer (package onnx) is checked
against the exporter rather than against itself.

  nin-mnist.onnx    models/nin-mnist.safetensors rebuilt in PyTorch: opset 11, variable batch,
                    x.view(x.size(0), -1) (Shape/Gather/Unsqueeze/Concat/Reshape)
  tiny-bn.onnx      random NIN-like net, 3 channels: BatchNormalization after every conv,
                    Dropout, AvgPool2d(ceil_mode=True) with PyTorch's default
                    count_include_pad=True (a zero Pad + AveragePool), Squeeze, Softmax; opset 13
  tiny-gemm.onnx    random, flatten + Linear head (Gemm over a 5x5 map), LogSoftmax; opset 17
  tiny-matmul.onnx  random, reshape(-1, d) @ W + b (Reshape, MatMul, Add); opset 12

  nin-mnist-qdq.onnx  nin-mnist quantized as onnxruntime's quantize_static writes it (QDQ, opset
                    13): see qdq_mnist; qdq.json holds its own float-simulated scores, which
                    ONNX Runtime (onnxruntime-node 1.31.1, scripts/onnx-qdq-ort.js) reproduced
                    exactly with its graph optimizations off, and within one output step
                    (0.066) with them on (its int8 kernels), top-1 the same on all 25 images

fixtures.json holds, per model, the preprocessing (ninedge's JSON), uint8 HWC images and the
PyTorch scores before any softmax. Every file passes onnx.checker (full_check).

It also checks the other direction: export-tiny.onnx, written by the Go exporter
(go test ./onnx -run ExportGolden -update), must pass onnx.checker, and PyTorch's functions,
applied node by node with the file's attributes, must give the nin scores in export-tiny.json.

With --cifar10 OUTDIR it writes only nin-cifar10.onnx (models/nin-cifar10.safetensors rebuilt in
PyTorch, opset 13, variable batch; 3.9 MB, too big to commit) and its fixtures.json into OUTDIR,
which the Go test TestNINCIFAR10AgainstPyTorch does on every run. The images are the first 8
CIFAR-10 test images when --data names the cifar10 folder (test_batch.bin.gz), else 8 seeded
pseudo-random ones.

Needs Debian's python3-torch and python3-onnx. Run from the repository root:
  /usr/bin/python3 scripts/onnx-fixtures.py
  /usr/bin/python3 scripts/onnx-fixtures.py --cifar10 OUTDIR [--data ../shared/data/cifar10]
"""

import argparse
import gzip
import io
import json
import struct
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = "onnx/testdata"


def read_safetensors(path):
    """Reads a safetensors file: 8-byte little-endian header length, JSON header, raw tensors."""
    with open(path, "rb") as f:
        b = f.read()
    (n,) = struct.unpack("<Q", b[:8])
    header = json.loads(b[8 : 8 + n])
    meta = header.pop("__metadata__")
    tensors = {}
    for name, t in header.items():
        assert t["dtype"] == "F32", name
        lo, hi = t["data_offsets"]
        tensors[name] = torch.from_numpy(
            np.frombuffer(b[8 + n + lo : 8 + n + hi], dtype="<f4").reshape(t["shape"]).copy()
        )
    return meta, tensors


def nin_features(spec, tensors):
    """The layers of a ninedge spec as PyTorch modules, weights from the file (OIHW)."""
    mods, c = [], spec["input"][2]
    for l in spec["layers"]:
        k = l["kind"]
        if k == "conv":
            conv = nn.Conv2d(c, l["out"], l["kernel"], l.get("stride", 1), l.get("pad", 0))
            conv.weight.data = tensors[l["name"] + ".weight"]
            conv.bias.data = tensors[l["name"] + ".bias"]
            mods.append(conv)
            if l.get("relu"):
                mods.append(nn.ReLU())
            c = l["out"]
        elif k == "maxpool":
            mods.append(nn.MaxPool2d(l["kernel"], l["stride"], ceil_mode=True))
        elif k == "avgpool":
            mods.append(nn.AvgPool2d(l["kernel"], l["stride"], ceil_mode=True, count_include_pad=False))
        elif k == "globalavg":
            mods.append(nn.AdaptiveAvgPool2d(1))
        elif k == "dropout":
            mods.append(nn.Dropout(l["rate"]))
        else:
            sys.exit(f"layer kind {k} not handled")
    return nn.Sequential(*mods)


class NIN(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.features = features

    def forward(self, x):
        x = self.features(x)
        return x.view(x.size(0), -1)


def bn(c):
    """Batch normalisation with running statistics far from the identity, so folding shows."""
    b = nn.BatchNorm2d(c)
    b.weight.data.uniform_(0.5, 1.5)
    b.bias.data.normal_(0, 0.1)
    b.running_mean.normal_(0, 0.1)
    b.running_var.uniform_(0.5, 2.0)
    return b


def trunk(with_bn, avg):
    """A small mlpconv trunk on 3x18x18: both pools clip their last window (18->9->5)."""
    def block(cin, cout, k):
        return [nn.Conv2d(cin, cout, k, padding=k // 2)] + ([bn(cout)] if with_bn else []) + [nn.ReLU()]

    return (
        block(3, 8, 5) + block(8, 8, 1)
        + [nn.MaxPool2d(3, 2, ceil_mode=True), nn.Dropout(0.5)]
        + block(8, 12, 3) + [avg]
    )


class TinyBN(nn.Module):
    def __init__(self):
        super().__init__()
        # AvgPool2d's default count_include_pad=True exports as a zero Pad + AveragePool.
        self.f = nn.Sequential(*trunk(True, nn.AvgPool2d(2, 2, ceil_mode=True)),
                               nn.Conv2d(12, 10, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.export = False

    def forward(self, x):
        x = self.f(x).squeeze(3).squeeze(2)
        return torch.softmax(x, 1) if self.export else x


class TinyGemm(nn.Module):
    def __init__(self):
        super().__init__()
        self.f = nn.Sequential(*trunk(False, nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False)))
        self.fc = nn.Linear(12 * 5 * 5, 10)
        self.export = False

    def forward(self, x):
        x = self.fc(torch.flatten(self.f(x), 1))
        return F.log_softmax(x, 1) if self.export else x


class TinyMatMul(nn.Module):
    def __init__(self):
        super().__init__()
        self.f = nn.Sequential(*trunk(False, nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False)))
        self.w = nn.Parameter(torch.randn(12 * 5 * 5, 10) * 0.1)
        self.b = nn.Parameter(torch.randn(10) * 0.1)
        self.export = False

    def forward(self, x):
        return self.f(x).reshape(-1, 12 * 5 * 5) @ self.w + self.b


def digits():
    """Five 28x28 uint8 images: strokes like 1, 0, 7, 4 and seeded noise (no data set here)."""
    imgs = np.zeros((5, 28, 28), np.uint8)
    imgs[0, 4:24, 13:16] = 255
    yy, xx = np.mgrid[:28, :28]
    r = np.hypot(yy - 14, xx - 14)
    imgs[1][(r > 6) & (r < 9.5)] = 255
    imgs[2, 5:8, 7:22] = 255
    for i in range(16):
        imgs[2, 8 + i, max(0, 20 - i) : 23 - i] = 255
    imgs[3, 4:16, 8:11] = 255
    imgs[3, 14:17, 8:21] = 255
    imgs[3, 4:25, 17:20] = 255
    imgs[4] = np.random.default_rng(7).integers(0, 256, (28, 28), dtype=np.uint8)
    return imgs[..., None]  # HWC


def preprocess(pre, imgs):
    """ninedge's meanstd, in float32 as nin/preprocess.go computes it, returned NCHW."""
    assert pre["kind"] == "meanstd", f"preprocessing {pre['kind']} not handled"
    x = imgs.astype(np.float32) / np.float32(255)
    x = (x - np.array(pre["mean"], np.float32)) / np.array(pre["std"], np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def export(model, x, path, opset, batch_axis):
    model.eval()
    with torch.no_grad():
        logits = model(x)
        model.export = True
        b = io.BytesIO()
        torch.onnx.export(
            model, x[:1], b, opset_version=opset, input_names=["input"], output_names=["scores"],
            dynamic_axes={"input": {0: "batch"}, "scores": {0: "batch"}} if batch_axis else None,
            # Keep BatchNormalization as a node (EVAL folds it into the Conv); the module is in
            # eval mode, so it exports as inference.
            training=torch.onnx.TrainingMode.PRESERVE,
        )
    m = onnx.load_from_string(b.getvalue())
    onnx.checker.check_model(m, full_check=True)
    with open(path, "wb") as f:
        f.write(b.getvalue())
    ops = sorted({n.op_type for n in m.graph.node})
    print(f"{path}: {len(b.getvalue())} bytes, opset {opset}, ops {' '.join(ops)}")
    return logits


def margin_ok(logits):
    """The fixture is useless for a top-1 check if two scores nearly tie."""
    top = torch.topk(logits, 2, dim=1).values
    gap = (top[:, 0] - top[:, 1]) / top[:, 0].abs().clamp(min=1e-6)
    assert bool((gap > 1e-3).all()), f"top-2 scores too close: {gap}"


def run_onnx(m, x):
    """Runs the ops ninedge's exporter writes, each as the PyTorch function with the node's
    ONNX attributes (an interpreter for that subset only)."""
    vals = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in m.graph.initializer}
    vals[m.graph.input[0].name] = x
    for n in m.graph.node:
        a = {at.name: helper.get_attribute_value(at) for at in n.attribute}
        x = vals[n.input[0]]
        if n.op_type == "Conv":
            pads = a["pads"]
            assert len(set(pads)) == 1, pads
            y = F.conv2d(x, vals[n.input[1]], vals[n.input[2]], stride=a["strides"], padding=pads[0])
        elif n.op_type == "Relu":
            y = F.relu(x)
        elif n.op_type == "MaxPool":
            y = F.max_pool2d(x, a["kernel_shape"], a["strides"], ceil_mode=bool(a.get("ceil_mode", 0)))
        elif n.op_type == "AveragePool":
            y = F.avg_pool2d(x, a["kernel_shape"], a["strides"], ceil_mode=bool(a.get("ceil_mode", 0)),
                             count_include_pad=bool(a.get("count_include_pad", 0)))
        elif n.op_type == "GlobalAveragePool":
            y = x.mean((2, 3), keepdim=True)
        elif n.op_type == "Flatten":
            y = torch.flatten(x, a.get("axis", 1))
        elif n.op_type == "Gemm":
            assert a == {"transB": 1}, a
            y = x @ vals[n.input[1]].T + vals[n.input[2]]
        else:
            sys.exit(f"{n.op_type}: not an op the exporter writes")
        vals[n.output[0]] = y
    return vals[m.graph.output[0].name]


def check_export():
    m = onnx.load(f"{OUT}/export-tiny.onnx")
    onnx.checker.check_model(m, full_check=True)
    with open(f"{OUT}/export-tiny.json") as f:
        fx = json.load(f)
    imgs = np.array(fx["images"], np.uint8).reshape(len(fx["images"]), *[
        d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim[2:]], -1)
    with torch.no_grad():
        got = run_onnx(m, preprocess(fx["preprocess"], imgs))
    want = torch.tensor(fx["scores"])
    err = float((got - want).abs().max() / want.abs().max())
    assert err < 1e-4 and bool((got.argmax(1) == want.argmax(1)).all()), (got, want)
    print(f"export-tiny.onnx: onnx.checker passes; PyTorch on it vs nin: max relative error {err:.3g}")


def read_idx_gz(path, n):
    """The first n items of a gzipped idx file (MNIST's format)."""
    with gzip.open(path, "rb") as f:
        b = f.read()
    ndim = b[3]
    dims = struct.unpack(">" + "I" * ndim, b[4 : 4 + 4 * ndim])
    per = int(np.prod(dims[1:])) if ndim > 1 else 1
    return np.frombuffer(b[4 + 4 * ndim : 4 + 4 * ndim + n * per], np.uint8).reshape((n,) + tuple(dims[1:]))


def act_qparams(lo, hi):
    """uint8 asymmetric parameters for the range [lo, hi] widened to contain 0, as
    onnxruntime's quantize_static computes them (MinMax calibration, QUInt8 activations)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    scale = (hi - lo) / 255 if hi > lo else 1.0
    zero = int(round(-lo / scale))
    return np.float32(scale), np.uint8(min(255, max(0, zero)))


def qdq_mnist(spec, tensors, pre):
    """nin-mnist-qdq.onnx: the QDQ form onnxruntime's quantize_static writes (opset 13,
    QuantizeLinear/DequantizeLinear pairs on the activations, per-channel symmetric int8 weights
    in [-127, 127] with DequantizeLinear axis 0, int32 biases at input scale x weight scale,
    uint8 activations), written with the onnx helper because onnxruntime's Python package is not
    installable here. Calibration: MinMax over the first 100 training images of samples/mnist,
    on the float model's activations at each quantized tensor (the input, every ReLU output,
    every pool output, the global pool's output). Returns the model and the scores of its own
    float simulation (each QuantizeLinear as round-half-even and clip, each
    DequantizeLinear as (q - zero) x scale, the ops in float32) for the test images."""
    calib = preprocess(pre, read_idx_gz("samples/mnist/train-images-idx3-ubyte.gz", 100)[..., None])
    layers = [l for l in spec["layers"] if l["kind"] != "dropout"]
    # Float activations at every quantized point, for the ranges.
    with torch.no_grad():
        x = calib
        ranges = [(x.min(), x.max())]
        for l in layers:
            x = nin_features({"input": spec["input"], "layers": [l]}, tensors)(x) if l["kind"] == "conv" else {
                "maxpool": lambda v: F.max_pool2d(v, l["kernel"], l["stride"], ceil_mode=True),
                "globalavg": lambda v: v.mean((2, 3), keepdim=True),
            }[l["kind"]](x)
            ranges.append((x.min(), x.max()))
    inits, nodes = [], []

    def qdq(name, r):
        s, z = act_qparams(*r)
        inits.extend([numpy_helper.from_array(np.array(s, np.float32), name + "_scale"),
                      numpy_helper.from_array(np.array(z, np.uint8), name + "_zero")])
        nodes.append(helper.make_node("QuantizeLinear", [name, name + "_scale", name + "_zero"], [name + "_q"], name=name + "_Q"))
        nodes.append(helper.make_node("DequantizeLinear", [name + "_q", name + "_scale", name + "_zero"], [name + "_dq"], name=name + "_DQ"))
        return name + "_dq", float(s)

    cur, s_cur = qdq("input", ranges[0])
    for l, r in zip(layers, ranges[1:]):
        n = l["name"]
        if l["kind"] == "conv":
            w = tensors[n + ".weight"].numpy().astype(np.float64)
            o = w.shape[0]
            sw = np.abs(w.reshape(o, -1)).max(1) / 127
            sw[sw == 0] = 1
            sw = sw.astype(np.float32)
            wq = np.clip(np.rint(w / sw.reshape(o, 1, 1, 1)), -127, 127).astype(np.int8)
            sb = (np.float32(s_cur) * sw).astype(np.float32)
            bq = np.rint(tensors[n + ".bias"].numpy().astype(np.float64) / sb).astype(np.int32)
            inits.extend([
                numpy_helper.from_array(wq, n + ".weight_q"), numpy_helper.from_array(sw, n + ".weight_scale"),
                numpy_helper.from_array(np.zeros(o, np.int8), n + ".weight_zero"),
                numpy_helper.from_array(bq, n + ".bias_q"), numpy_helper.from_array(sb, n + ".bias_scale"),
                numpy_helper.from_array(np.zeros(o, np.int32), n + ".bias_zero")])
            nodes.append(helper.make_node("DequantizeLinear", [n + ".weight_q", n + ".weight_scale", n + ".weight_zero"], [n + ".weight"], name=n + ".weight_DQ", axis=0))
            nodes.append(helper.make_node("DequantizeLinear", [n + ".bias_q", n + ".bias_scale", n + ".bias_zero"], [n + ".bias"], name=n + ".bias_DQ", axis=0))
            p, k = l.get("pad", 0), l["kernel"]
            nodes.append(helper.make_node("Conv", [cur, n + ".weight", n + ".bias"], [n], name=n, kernel_shape=[k, k],
                                          pads=[p] * 4, strides=[l.get("stride", 1)] * 2))
            nodes.append(helper.make_node("Relu", [n], [n + "_relu"], name=n + "_relu"))
            cur, s_cur = qdq(n + "_relu", r)
        elif l["kind"] == "maxpool":
            nodes.append(helper.make_node("MaxPool", [cur], [n], name=n, kernel_shape=[l["kernel"]] * 2,
                                          strides=[l["stride"]] * 2, ceil_mode=1))
            cur, s_cur = qdq(n, r)
        elif l["kind"] == "globalavg":
            nodes.append(helper.make_node("GlobalAveragePool", [cur], [n], name=n))
            cur, s_cur = qdq(n, r)
    nodes.append(helper.make_node("Flatten", [cur], ["scores"], name="flatten", axis=1))
    h, w_, c = spec["input"]
    graph = helper.make_graph(nodes, "nin-mnist-qdq",
                              [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, ["N", c, h, w_])],
                              [helper.make_tensor_value_info("scores", onnx.TensorProto.FLOAT, ["N", spec["classes"]])], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="scripts/onnx-fixtures.py")
    m.ir_version = 7
    onnx.checker.check_model(m, full_check=True)
    return m


def run_qdq(m, x):
    """The QDQ model's own float simulation, node by node (the ops qdq_mnist writes)."""
    vals = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    vals["input"] = x.numpy()
    for n in m.graph.node:
        a = {at.name: helper.get_attribute_value(at) for at in n.attribute}
        i = [vals[v] for v in n.input]
        if n.op_type == "QuantizeLinear":
            lo, hi = (0, 255) if i[2].dtype == np.uint8 else (-128, 127)
            y = np.clip(np.rint(i[0] / i[1]) + i[2].astype(np.float32), lo, hi).astype(i[2].dtype)
        elif n.op_type == "DequantizeLinear":
            shape = [-1] + [1] * (i[0].ndim - 1) if i[1].ndim == 1 else []
            y = ((i[0].astype(np.float32) - i[2].astype(np.float32).reshape(shape)) * i[1].reshape(shape)).astype(np.float32)
        else:
            t = torch.from_numpy(i[0])
            if n.op_type == "Conv":
                y = F.conv2d(t, torch.from_numpy(i[1]), torch.from_numpy(i[2]), stride=a["strides"][0], padding=a["pads"][0])
            elif n.op_type == "Relu":
                y = F.relu(t)
            elif n.op_type == "MaxPool":
                y = F.max_pool2d(t, a["kernel_shape"], a["strides"], ceil_mode=True)
            elif n.op_type == "GlobalAveragePool":
                y = t.mean((2, 3), keepdim=True)
            elif n.op_type == "Flatten":
                y = torch.flatten(t, 1)
            y = y.numpy()
        vals[n.output[0]] = y
    return vals["scores"]


def write_fixtures(path, fixtures):
    """fixtures.json: per model its file, arch, preprocessing, uint8 HWC images, PyTorch scores."""
    out = {"generator": "scripts/onnx-fixtures.py", "torch": torch.__version__, "onnx": onnx.__version__, "models": []}
    for file, arch, p, im, lg in fixtures:
        margin_ok(lg)
        out["models"].append({
            "file": file, "arch": arch, "preprocess": p,
            "images": [[int(v) for v in i.reshape(-1)] for i in im],
            "scores": [[float(v) for v in row] for row in lg.numpy().astype(np.float32)],
        })
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")


def read_cifar10_test(folder, n):
    """The first n images of CIFAR-10's test_batch (records of a label byte and R, G, B planes), HWC."""
    with gzip.open(f"{folder}/test_batch.bin.gz", "rb") as f:
        b = f.read(n * 3073)
    rec = np.frombuffer(b, np.uint8).reshape(n, 3073)
    return np.ascontiguousarray(rec[:, 1:].reshape(n, 3, 32, 32).transpose(0, 2, 3, 1))


def cifar10(out, data):
    """nin-cifar10.onnx and its fixtures.json in out: the shipped CIFAR-10 model rebuilt from its
    own metadata (spec and preprocessing) and weights, as a PyTorch user would export it."""
    meta, tensors = read_safetensors("models/nin-cifar10.safetensors")
    spec, pre = json.loads(meta["spec"]), json.loads(meta["preprocess"])
    h, w, c = spec["input"]
    imgs = read_cifar10_test(data, 8) if data else np.random.default_rng(10).integers(0, 256, (8, h, w, c), dtype=np.uint8)
    logits = export(NIN(nin_features(spec, tensors)), preprocess(pre, imgs), f"{out}/nin-cifar10.onnx", 13, True)
    write_fixtures(f"{out}/fixtures.json", [("nin-cifar10.onnx", "nin-cifar10", pre, imgs, logits)])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cifar10", metavar="OUTDIR", help="write only nin-cifar10.onnx and its fixtures.json into OUTDIR")
    ap.add_argument("--data", metavar="DIR", help="with --cifar10: the CIFAR-10 folder (test_batch.bin.gz) for the images")
    args = ap.parse_args()
    if args.data and not args.cifar10:
        ap.error("--data goes with --cifar10")
    if args.cifar10:
        cifar10(args.cifar10, args.data)
        return

    torch.manual_seed(0)
    fixtures = []

    meta, tensors = read_safetensors("models/nin-mnist.safetensors")
    spec = json.loads(meta["spec"])
    pre = json.loads(meta["preprocess"])
    imgs = digits()
    logits = export(NIN(nin_features(spec, tensors)), preprocess(pre, imgs), f"{OUT}/nin-mnist.onnx", 11, True)
    fixtures.append(("nin-mnist.onnx", "nin-mnist", pre, imgs, logits))

    rgb = np.random.default_rng(1).integers(0, 256, (4, 18, 18, 3), dtype=np.uint8)
    pre3 = {"kind": "meanstd", "mean": [0.49, 0.48, 0.45], "std": [0.25, 0.24, 0.26]}
    x3 = preprocess(pre3, rgb)
    for path, model, opset, batch in [
        ("tiny-bn.onnx", TinyBN(), 13, True),
        ("tiny-gemm.onnx", TinyGemm(), 17, False),
        ("tiny-matmul.onnx", TinyMatMul(), 12, True),
    ]:
        fixtures.append((path, "", pre3, rgb, export(model, x3, f"{OUT}/{path}", opset, batch)))

    write_fixtures(f"{OUT}/fixtures.json", fixtures)
    check_export()

    # The quantized model: its own float-simulated scores on the digits and the first 20
    # test images of samples/mnist.
    qm = qdq_mnist(spec, tensors, pre)
    qimgs = np.concatenate([imgs, read_idx_gz("samples/mnist/t10k-images-idx3-ubyte.gz", 20)[..., None]])
    x = preprocess(pre, qimgs)
    qscores = run_qdq(qm, x)
    with torch.no_grad():
        fscores = NIN(nin_features(spec, tensors)).eval()(x).numpy()
    onnx.save(qm, f"{OUT}/nin-mnist-qdq.onnx")
    with open(f"{OUT}/qdq.json", "w") as f:
        json.dump({"generator": "scripts/onnx-fixtures.py", "file": "nin-mnist-qdq.onnx", "preprocess": pre,
                   "images": [[int(v) for v in i.reshape(-1)] for i in qimgs],
                   "scores": [[float(v) for v in row] for row in qscores.astype(np.float32)],
                   "float_scores": [[float(v) for v in row] for row in fscores.astype(np.float32)]}, f, separators=(",", ":"))
        f.write("\n")
    agree = int((qscores.argmax(1) == fscores.argmax(1)).sum())
    print(f"nin-mnist-qdq.onnx: {len(qm.SerializeToString())} bytes; its simulated top-1 agrees with float on {agree} of {len(qimgs)} images, "
          f"largest score difference {float(np.abs(qscores - fscores).max()):.3g}")


if __name__ == "__main__":
    main()
