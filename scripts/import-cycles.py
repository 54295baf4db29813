#!/usr/bin/env python3
"""Module import graph of a crate's src/ (every `crate::a::b` path, `use crate::{...}` groups and
`super::` outside `#[cfg(test)] mod tests`), its cycles between files, and for host the stage
order: a module of resolve/, bind/, execute/ or finish/ uses no module of a later stage.

    scripts/import-cycles.py core/src host/src      # exit 1 on a cycle or a stage reaching back
"""
import glob
import os
import re
import sys

STAGES = ["cli", "scheduler", "geometry", "digest", "finite", "interrupt", "resolve", "bind", "execute", "finish", "merge"]


def modules(root):
    found = {}
    for path in glob.glob(os.path.join(root, "**/*.rs"), recursive=True):
        rel = os.path.relpath(path, root)[:-3]
        if rel.startswith("bin/") or rel in ("main",):
            continue
        parts = rel.split(os.sep)
        if parts[-1] in ("mod", "lib"):
            parts = parts[:-1]
        found["::".join(parts)] = path
    return found


def resolve_path(name, mods):
    """The longest module prefix of `a::b::c`."""
    parts = name.split("::")
    for n in range(len(parts), 0, -1):
        candidate = "::".join(parts[:n])
        if candidate in mods:
            return candidate
    return None


def graph(root):
    mods = modules(root)
    edges = {}
    for module, path in mods.items():
        text = open(path).read()
        cut = text.find("#[cfg(test)]\nmod tests")
        if cut >= 0:
            text = text[:cut]
        text = "\n".join(l for l in text.split("\n") if not l.lstrip().startswith("//"))
        deps = set()
        for name in re.findall(r"crate::((?:[a-z_0-9]+::)*[a-z_0-9]+)", text):
            target = resolve_path(name, mods)
            if target is not None:
                deps.add(target)
        for group, body in re.findall(r"use crate::((?:[a-z_0-9]+::)*)\{([^}]*)\}", text, re.S):
            for item in re.findall(r"\b([a-z_0-9]+(?:::[a-z_0-9]+)*)", body):
                target = resolve_path(group + item, mods)
                if target is not None:
                    deps.add(target)
        parent = module.rsplit("::", 1)[0] if "::" in module else ""
        for name in re.findall(r"super::([a-z_0-9]+)", text):
            target = resolve_path((parent + "::" if parent else "") + name, mods)
            if target is not None:
                deps.add(target)
        deps.discard(module)
        deps.discard("")
        # A module's own children and its parent's re-exports are not dependencies on itself.
        edges[module] = {d for d in deps if not d.startswith(module + "::") and d != ""}
    edges.pop("", None)
    return edges


def cycles(edges):
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in list(edges):
        if v not in index:
            visit(v)
    return found


def main():
    failed = False
    for root in sys.argv[1:] or ["core/src", "host/src"]:
        edges = graph(root)
        found = cycles(edges)
        print(f"{root}: {len(edges)} modules, {sum(map(len, edges.values()))} imports, "
              f"cycles: {found if found else 'none'}")
        failed |= bool(found)
        if root.rstrip("/").endswith("host/src"):
            rank = lambda m: STAGES.index(m.split("::")[0]) if m.split("::")[0] in STAGES else -1
            for module, deps in sorted(edges.items()):
                for dep in sorted(deps):
                    if rank(dep) > rank(module) >= STAGES.index("resolve"):
                        print(f"  {module} uses {dep}, a later stage")
                        failed = True
    sys.exit(1 if failed else 0)


main()
