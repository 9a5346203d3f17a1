"""Regenerate tests/data/facenet_keras_reference.npz: FaceNet embeddings of a few real crops computed by TensorFlow.

Not a test. Needs TensorFlow (any 2.x, CPU) and h5py in the running interpreter, not in faceprint's venv, and the
crops from faceprint's venv, so it runs in two steps:

    .venv/bin/python tests/data/facenet_keras_reference.py crops OUT_CROPS.npz     # faceprint: box crops
    TF_PYTHON tests/data/facenet_keras_reference.py reference OUT_CROPS.npz H5 tests/data/facenet_keras_reference.npz

The reference executes the HDF5 file's own layer graph (its `model_config`: every layer, connection and
hyper-parameter) with TensorFlow ops (tf.nn.conv2d with Keras's 'same'/'valid' padding, batch norm, pooling, the
Lambda 'ScaleSum' layers as `inputs[0] + inputs[1] * scale`, decoded from their marshalled bytecode). Keras itself
cannot rebuild the model on Python 3.11 because those Lambda layers hold Python 3.6 bytecode; the graph walk is the
same computation without it. It shares no code with faceprint's PyTorch port.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

IMAGES = [
    "Tony_Blair/Tony_Blair_0001.jpg",
    "Tony_Blair/Tony_Blair_0002.jpg",
    "Colin_Powell/Colin_Powell_0001.jpg",
    "Hugo_Chavez/Hugo_Chavez_0003.jpg",
]


SHARED = Path(os.environ.get("FACEPRINT_SHARED", Path(__file__).resolve().parents[3] / "shared"))


def make_crops(out: str) -> None:
    from faceprint.analyzer import select_face
    from faceprint.detect import create_detector
    from faceprint.image import load_image
    from faceprint.models.facenet import box_crop

    det = create_detector("mtcnn")
    crops = []
    for name in IMAGES:
        img = load_image(SHARED / "data" / "lfw-subset" / name)
        crops.append(box_crop(img, select_face(det.detect(img), img.shape, "center").box))
    np.savez_compressed(out, crops=np.stack(crops), images=np.array(IMAGES))


def reference(crops_file: str, h5_path: str, out: str) -> None:
    import h5py
    import tensorflow as tf

    data = np.load(crops_file)
    crops = data["crops"].astype(np.float32)
    # facenet prewhiten: per image, population std floored at 1/sqrt(n)
    mean = crops.mean(axis=(1, 2, 3), keepdims=True)
    std = np.maximum(crops.std(axis=(1, 2, 3), keepdims=True), 1.0 / np.sqrt(crops[0].size))
    x_in = ((crops - mean) / std).astype(np.float32)

    with h5py.File(h5_path, "r") as f:
        config = json.loads(f.attrs["model_config"])["config"]
        weights = {}
        g = f["model_weights"]
        for name in g.attrs["layer_names"]:
            name = name.decode() if isinstance(name, bytes) else name
            weights[name] = {
                (w.decode() if isinstance(w, bytes) else w).split("/")[-1]: np.asarray(g[name][w]) for w in g[name].attrs["weight_names"]
            }

    tensors: dict[str, tf.Tensor] = {}
    for layer in config["layers"]:
        cls, name, c = layer["class_name"], layer["name"], layer["config"]
        ins = [tensors[n[0]] for n in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else []
        w = weights.get(name, {})
        if cls == "InputLayer":
            y = tf.constant(x_in)
        elif cls == "Conv2D":
            assert c["dilation_rate"] == [1, 1] and c["activation"] == "linear"
            y = tf.nn.conv2d(ins[0], w["kernel:0"], strides=[1, *c["strides"], 1], padding=c["padding"].upper())
            if c["use_bias"]:
                y = y + w["bias:0"]
        elif cls == "BatchNormalization":
            assert c["center"] and not c["scale"]
            y = tf.nn.batch_normalization(ins[0], w["moving_mean:0"], w["moving_variance:0"], w["beta:0"], None, c["epsilon"])
        elif cls == "Activation":
            assert c["activation"] == "relu"
            y = tf.nn.relu(ins[0])
        elif cls == "Concatenate":
            y = tf.concat(ins, axis=c["axis"])
        elif cls == "Lambda":
            y = ins[0] + ins[1] * c["arguments"]["scale"]
        elif cls == "MaxPooling2D":
            y = tf.nn.max_pool2d(ins[0], c["pool_size"], c["strides"], c["padding"].upper())
        elif cls == "GlobalAveragePooling2D":
            y = tf.reduce_mean(ins[0], axis=[1, 2])
        elif cls == "Dropout":
            y = ins[0]
        elif cls == "Dense":
            assert not c["use_bias"] and c["activation"] == "linear"
            y = tf.matmul(ins[0], w["kernel:0"])
        else:
            raise ValueError(f"layer {name}: unexpected class {cls}")
        tensors[name] = y
    (out_name,) = [o[0] for o in config["output_layers"]]
    bottleneck = tensors[out_name].numpy()
    np.savez_compressed(
        out,
        crops=data["crops"],
        images=data["images"],
        bottleneck=bottleneck.astype(np.float32),
        stem=tensors["Conv2d_4b_3x3_Activation"].numpy()[:, :2, :2, :8].astype(np.float32),
        provenance=np.array(f"TensorFlow {tf.__version__} ops on the model_config graph of facenet_keras.h5"),
    )
    print(out, bottleneck.shape, np.linalg.norm(bottleneck, axis=1))


if __name__ == "__main__":
    if sys.argv[1] == "crops":
        make_crops(sys.argv[2])
    elif sys.argv[1] == "reference":
        reference(*sys.argv[2:5])
    else:
        raise SystemExit(__doc__)
