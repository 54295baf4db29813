#!/bin/sh
# Writes the C form of the Rust firmware's model weights (firmware/model/src/weights.rs, written
# by train.py) to stdout, so that the C firmware evaluates the very same floats: each literal keeps
# its 9 significant digits (an exact f32 round trip) and gets C's `f` suffix, which GCC rounds
# correctly to the nearest float, as rustc does. Generated at build time, never committed, so it
# cannot drift from the Rust weights.
set -eu
sed -e '/^#!\[allow/d' \
    -e 's|^//!|//|' -e 's|^///|//|' \
    -e 's/^pub const \([A-Z0-9_]*\): \[\[f32; \([0-9]*\)\]; \([0-9]*\)\] = \[/static const float \1[\3][\2] = {/' \
    -e 's/^pub const \([A-Z0-9_]*\): \[f32; \([0-9]*\)\] = \[/static const float \1[\2] = {/' \
    -e 's/\([0-9]e[-+][0-9]*\)/\1f/g' \
    -e 's/^\( *\)\[$/\1{/' -e 's/^\( *\)\],$/\1},/' -e 's/\];$/};/' \
    "$1"
