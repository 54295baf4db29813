"""The digits data set shared by training and evaluation (numpy + scikit-learn only).

scikit-learn's copy of the UCI optical digits (1 797 images of 8x8, values 0..16, CC BY 4.0),
used at its native 8x8 size and scaled to [-1, 1] as x / 8 - 1. A fixed stratified split keeps
20% (360 images) out of training for evaluation.
"""
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

SEED = 0


def load():
    """(train_images, train_labels, heldout_images, heldout_labels); images float32 [N, 1, 8, 8] in [-1, 1]."""
    digits = load_digits()
    images = (digits.images.astype(np.float32) / 8.0 - 1.0)[:, None, :, :]
    train_x, held_x, train_y, held_y = train_test_split(
        images, digits.target, test_size=0.2, random_state=SEED, stratify=digits.target)
    return train_x, train_y, held_x, held_y
