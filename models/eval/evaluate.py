#!/usr/bin/env python3
"""Sample-quality metrics for generated digits (numpy + scikit-learn + scipy; no PyTorch).

    python3 models/eval/evaluate.py samples.npy [more.npy ...]      # one line of metrics each
    python3 models/eval/evaluate.py --floor                          # held-out real vs training real
    python3 models/eval/evaluate.py samples.npy --labels labels.npy  # + accuracy for intended labels

Feature space: the 64 ReLU units of the hidden layer of an MLP classifier (scikit-learn
MLPClassifier, one hidden layer of 64, fixed seed) trained on the training split; its held-out
accuracy is printed with --floor. Metrics:
  fd          Frechet distance between the features of the samples and of the held-out real images
              (the project's FID stand-in): |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))
  confident   share of samples the classifier assigns to some class with p > 0.9
  entropy     entropy (bits) of the predicted-class distribution (uniform over 10: 3.32)
  min_share   the smallest predicted-class share (uniform: 0.10); mode collapse shows here
With --labels (int [N], the class each sample was asked to be, e.g. a class-conditional model's
class_labels), also:
  accuracy    share of samples classified as their intended label
  per_class   that share for each label 0..9 (null where no sample asked for the label)
Samples are float32 [N, 1, 8, 8] in [-1, 1] (the data scaled as x / 8 - 1).
"""
import argparse
import json
import os
import sys

import numpy as np
from scipy import linalg
from sklearn.neural_network import MLPClassifier

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "digits"))
import data  # noqa: E402


def classifier():
    train_x, train_y, held_x, held_y = data.load()
    model = MLPClassifier(hidden_layer_sizes=(64,), max_iter=2000, random_state=0)
    model.fit(train_x.reshape(len(train_x), -1), train_y)
    accuracy = model.score(held_x.reshape(len(held_x), -1), held_y)
    return model, accuracy, train_x, held_x


def features(model, images):
    flat = images.reshape(len(images), -1).astype(np.float64)
    return np.maximum(flat @ model.coefs_[0] + model.intercepts_[0], 0.0)


def frechet(a, b):
    mu1, mu2 = a.mean(0), b.mean(0)
    # Units that never fire make the covariances singular; a tiny ridge keeps sqrtm well defined.
    ridge = 1e-6 * np.eye(a.shape[1])
    s1, s2 = np.cov(a, rowvar=False) + ridge, np.cov(b, rowvar=False) + ridge
    root = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * root))


def metrics(model, images, reference):
    probabilities = model.predict_proba(images.reshape(len(images), -1))
    predicted = probabilities.argmax(1)
    shares = np.bincount(predicted, minlength=10) / len(predicted)
    nonzero = shares[shares > 0]
    return {
        "n": int(len(images)),
        "fd": frechet(features(model, images), features(model, reference)),
        "confident": float((probabilities.max(1) > 0.9).mean()),
        "entropy": float(-(nonzero * np.log2(nonzero)).sum()),
        "min_share": float(shares.min()),
    }


def class_accuracy(model, images, labels):
    """(overall, [per label 0..9]) share of samples the classifier assigns to their intended label."""
    predicted = model.predict(images.reshape(len(images), -1))
    correct = predicted == labels
    per_class = [float(correct[labels == k].mean()) if (labels == k).any() else None for k in range(10)]
    return float(correct.mean()), per_class


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("samples", nargs="*")
    parser.add_argument("--floor", action="store_true", help="held-out real images vs training images")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--labels", help="int .npy [N]: the intended class of each sample (for every samples file)")
    args = parser.parse_args()
    model, accuracy, train_x, held_x = classifier()
    rows = []
    if args.floor:
        rows.append(("floor (held-out real vs training real)", {**metrics(model, train_x, held_x), "accuracy": accuracy}))
    for path in args.samples:
        images = np.load(path)
        if images.ndim != 4 or images.shape[1:] != (1, 8, 8):
            sys.exit(f"{path}: expected [N, 1, 8, 8], got {list(images.shape)}")
        row = metrics(model, images.astype(np.float32), held_x)
        if args.labels:
            labels = np.load(args.labels)
            if labels.shape != (len(images),) or labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() > 9:
                sys.exit(f"{args.labels}: expected integer labels 0..9 of shape [{len(images)}], "
                         f"got {labels.dtype} {list(labels.shape)}")
            row["accuracy"], row["per_class"] = class_accuracy(model, images.astype(np.float32), labels)
        rows.append((path, row))
    for name, row in rows:
        print(json.dumps({"name": name, **row}) if args.json else
              f"{name}: " + ", ".join(fmt(k, v) for k, v in row.items()))


def fmt(key, value):
    if isinstance(value, float):
        return f"{key} {value:.4f}"
    if isinstance(value, list):
        return f"{key} [" + " ".join("-" if v is None else f"{v:.3f}" for v in value) + "]"
    return f"{key} {value}"


if __name__ == "__main__":
    main()
